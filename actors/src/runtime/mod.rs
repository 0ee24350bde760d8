//! Primitives every actor uses: where a child's current instance is found
//! ([`slot`], [`slots`]), work an actor owns, which stops when the actor
//! does ([`pass`] for stage passes, [`task`] for tasks and process groups),
//! and commands Suture does not trust, run contained ([`sandbox`]).

pub mod pass;
pub mod sandbox;
pub mod slot;
pub mod slots;
pub mod task;
