//! Work owned by an actor's state. ractor's `kill()` skips `post_stop` but
//! drops the state, so anything an actor starts must stop when its state is
//! dropped: tasks through [`OwnedTask`] (abort on drop), child processes
//! through [`OwnedProcess`] (their whole process group killed on drop).

use std::process::Stdio;

use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// A spawned task that is aborted when this handle is dropped.
#[derive(Debug)]
pub struct OwnedTask<T>(JoinHandle<T>);

impl<T: Send + 'static> OwnedTask<T> {
    pub fn spawn(future: impl Future<Output = T> + Send + 'static) -> Self {
        Self(tokio::spawn(future))
    }
}

impl<T> OwnedTask<T> {
    /// Whether the task has ended (finished, panicked or aborted).
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Waits for the task; a panic or an abort is the `Err`.
    pub async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for OwnedTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A child process in its own process group, killed with the whole group
/// (everything it started: test runners, compilers, agent CLIs) when this
/// handle is dropped or [`OwnedProcess::kill`] is called.
#[derive(Debug)]
pub struct OwnedProcess {
    child: Child,
    pgid: Option<i32>,
}

impl OwnedProcess {
    /// Spawns `command` as the leader of a new process group, stdin closed.
    pub fn spawn(mut command: Command) -> std::io::Result<Self> {
        command
            .process_group(0)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let child = command.spawn()?;
        let pgid = child.id().and_then(|id| i32::try_from(id).ok());
        Ok(Self { child, pgid })
    }

    /// The process, to read its pipes and wait for it.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The group's id (the leader's pid), while it is known.
    pub fn pgid(&self) -> Option<i32> {
        self.pgid
    }

    /// SIGKILL to the whole group. Idempotent.
    pub fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: kill(2) with a negative pid signals a process group; it
            // touches no memory of ours. A group that is already gone answers
            // ESRCH, which is what we want.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }

    /// Waits for the leader to exit, then kills what it left in its group.
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.wait().await?;
        self.kill();
        Ok(status)
    }
}

impl Drop for OwnedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether process `pid` runs (for tests, here and in the engine's
/// integration tests); a zombie waiting for its reaper counts as gone.
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_string();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn alive(pid: i32) -> bool {
        u32::try_from(pid).is_ok_and(process_alive)
    }

    async fn gone_within(pid: i32, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if !alive(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        !alive(pid)
    }

    #[tokio::test]
    async fn dropping_an_owned_process_kills_its_grandchildren() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("grandchild.pid");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("sleep 60 & echo $! > {}; wait", pidfile.display()));
        let process = OwnedProcess::spawn(command).expect("spawn sh");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let grandchild = loop {
            if let Some(pid) = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                break pid;
            }
            assert!(tokio::time::Instant::now() < deadline, "no grandchild pid");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(alive(grandchild));
        drop(process);
        assert!(
            gone_within(grandchild, Duration::from_secs(5)).await,
            "the grandchild outlived its owner"
        );
    }

    #[tokio::test]
    async fn dropping_an_owned_task_aborts_it() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let task = OwnedTask::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = tx.send(());
        });
        drop(task);
        // The sender is dropped with the aborted future: the channel closes
        // without a message.
        assert_eq!(rx.recv().await, None);
    }
}
