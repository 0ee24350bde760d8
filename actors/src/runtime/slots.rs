//! Every child's [`ActorSlot`], found by its message type. A child entry
//! and the children that send to it ask for the same slot, so adding a
//! child needs no new field anywhere.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::slot::ActorSlot;

/// Slots by message type; created on first use. Cheap to clone.
#[derive(Clone, Default)]
pub struct Slots(Arc<Mutex<HashMap<TypeId, Box<dyn Any + Send>>>>);

impl Slots {
    /// The slot of the actor that takes messages of type `M`.
    pub fn of<M: ractor::Message>(&self) -> ActorSlot<M> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(TypeId::of::<M>())
            .or_insert_with(|| Box::new(ActorSlot::<M>::default()))
            .downcast_ref::<ActorSlot<M>>()
            .cloned()
            // The entry for `TypeId::of::<M>()` is only ever an `ActorSlot<M>`.
            .unwrap_or_default()
    }
}
