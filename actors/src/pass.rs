//! Stages that work in passes (the analyzer, triage): the actor starts at
//! most one pass at a time as a spawned task, because a pass waits on git
//! and the LLM for seconds to minutes and the actor must stay responsive
//! (status queries, stop). The task reports back by message; the actor then
//! arms the next pass: at once when work is left, else after its interval.

use std::future::Future;
use std::time::Duration;

use ractor::{ActorProcessingErr, ActorRef, Message};

/// Starts `pass(context)` unless one is running; its result comes back as
/// `done(result)`.
pub fn start<C, R, M, F>(
    myself: &ActorRef<M>,
    running: &mut bool,
    context: C,
    pass: impl FnOnce(C) -> F + Send + 'static,
    done: fn(Result<R, String>) -> M,
) where
    C: Send + 'static,
    R: Send + 'static,
    M: Message,
    F: Future<Output = Result<R, String>> + Send + 'static,
{
    if *running {
        return;
    }
    *running = true;
    let me = myself.clone();
    let task = tokio::spawn(pass(context));
    // A pass that panics still reports, or the stage would wait for it forever.
    tokio::spawn(async move {
        let result = task
            .await
            .unwrap_or_else(|e| Err(format!("the pass panicked: {e}")));
        let _ = me.send_message(done(result));
    });
}

/// Arms the next pass: now when `again`, else after `interval`.
pub fn rearm<M: Message>(
    myself: &ActorRef<M>,
    again: bool,
    interval: Duration,
    tick: fn() -> M,
) -> Result<(), ActorProcessingErr> {
    if again {
        myself.send_message(tick())?;
    } else {
        myself.send_after(interval, tick);
    }
    Ok(())
}

/// `text` cut to `max_chars` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncate_counts_characters() {
        assert_eq!(super::truncate("héllo", 2), "hé…");
        assert_eq!(super::truncate("héllo", 5), "héllo");
    }
}
