//! The coding agent: from a ticket to a proposed fix. [`external`] runs an
//! operator's own agent CLI (`agent.command`) on an attempt's worktree.

pub mod external;
