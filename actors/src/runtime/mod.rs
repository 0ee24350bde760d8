//! Primitives every actor uses: where a child's current instance is found
//! ([`slot`], [`slots`]), and work an actor owns, which stops when the actor
//! does ([`pass`] for stage passes, [`task`] for tasks and process groups).

pub mod pass;
pub mod slot;
pub mod slots;
pub mod task;
