//! Running git: one subprocess per question, under a deadline, reading a
//! bounded amount of its output.
//!
//! Git is run rather than linked because every machine with a checkout has
//! it, it understands every repository format the checkout may use (SHA-256,
//! partial clones, alternates), and a subprocess that misbehaves can be
//! killed without taking the sidecar with it.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::RepoError;
pub(crate) use crate::domain::diff::Flow;

/// How a git run ended. When the reader stopped early git was killed, and
/// `status` says so.
#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ExitStatus,
    /// The head of stderr, lossy UTF-8.
    pub stderr: String,
}

/// Stderr kept per run. Git's messages are a few lines; a runaway stream of
/// warnings (one per file of a huge rename detection) must not grow memory.
const STDERR_KEEP: usize = 8 * 1024;

/// Read size from git's stdout.
const CHUNK: usize = 64 * 1024;

/// Characters of stderr quoted in an error message: enough for git's
/// `fatal:` line and a hint, short enough for one log line.
const STDERR_EXCERPT: usize = 400;

/// Environment variables that would point git at another repository or
/// change what `diff` prints. The sidecar may itself be started from a git
/// hook or a CI job where some of these are set.
const FOREIGN_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS",
];

/// Git in one directory, with the deadline every command runs under.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    pub dir: PathBuf,
    pub timeout: Duration,
}

impl Git {
    /// Runs `git <args>`, handing stdout to `on_chunk` as it arrives.
    pub async fn stream(
        &self,
        args: &[&str],
        on_chunk: impl FnMut(&[u8]) -> Flow,
    ) -> Result<Finished, RepoError> {
        let command = describe(args);
        let started = Instant::now();
        let result = run(self.command(args), &command, self.timeout, on_chunk).await;
        tracing::debug!(
            command = %command,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ok = result.is_ok(),
            "git"
        );
        result
    }

    /// Runs `git <args>` and collects stdout, refusing more than `limit`
    /// bytes (the command is killed and the call fails).
    pub async fn output(
        &self,
        args: &[&str],
        limit: usize,
    ) -> Result<(Finished, Vec<u8>), RepoError> {
        let mut out = Vec::new();
        let mut over = false;
        let finished = self
            .stream(args, |chunk| {
                if out.len().saturating_add(chunk.len()) > limit {
                    over = true;
                    return Flow::Stop;
                }
                out.extend_from_slice(chunk);
                Flow::More
            })
            .await?;
        if over {
            return Err(RepoError::OutputTooLarge {
                command: describe(args),
                limit,
            });
        }
        Ok((finished, out))
    }

    /// Like [`Git::output`], and a non-zero exit is an error.
    pub async fn checked(&self, args: &[&str], limit: usize) -> Result<Vec<u8>, RepoError> {
        let (finished, out) = self.output(args, limit).await?;
        if !finished.status.success() {
            return Err(failed(args, &finished));
        }
        Ok(out)
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(&self.dir)
            // Never a pager, never colour, paths printed as they are (the
            // `-z` forms are read, and non-ASCII names must survive).
            .args([
                "--no-pager",
                "-c",
                "core.quotepath=off",
                "-c",
                "color.ui=false",
            ])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env("GIT_PAGER", "cat")
            .env("PAGER", "cat")
            // Reading commits needs no lock; the service's own deploy tooling
            // may be running git in the same checkout.
            .env("GIT_OPTIONAL_LOCKS", "0");
        for name in FOREIGN_ENV {
            cmd.env_remove(name);
        }
        cmd
    }
}

/// The error for a git command that exited non-zero.
pub(crate) fn failed(args: &[&str], finished: &Finished) -> RepoError {
    RepoError::GitFailed {
        command: describe(args),
        status: finished.status.to_string(),
        stderr: excerpt(&finished.stderr),
    }
}

/// `git diff --raw ...`: how a command is named in errors and logs. The
/// arguments are Suture's own flags and validated revisions, so quoting them
/// is safe.
pub(crate) fn describe(args: &[&str]) -> String {
    let mut text = String::from("git");
    for arg in args {
        text.push(' ');
        text.push_str(arg);
    }
    text
}

/// The last [`STDERR_EXCERPT`] characters of stderr, trimmed: git prints its
/// `fatal:` line last.
pub(crate) fn excerpt(stderr: &str) -> String {
    let text = stderr.trim();
    let count = text.chars().count();
    if count <= STDERR_EXCERPT {
        return text.to_string();
    }
    let tail: String = text.chars().skip(count - STDERR_EXCERPT).collect();
    format!("...{tail}")
}

/// Runs `cmd` under `timeout`. On timeout the child is dropped inside the
/// future, and `kill_on_drop` kills it; when `on_chunk` says stop, stdout is
/// closed and the child killed, so git never blocks on a full pipe.
pub(crate) async fn run(
    mut cmd: Command,
    command: &str,
    timeout: Duration,
    on_chunk: impl FnMut(&[u8]) -> Flow,
) -> Result<Finished, RepoError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let work = async {
        let mut child = cmd.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                RepoError::GitMissing {
                    program: program_name(&cmd),
                    source,
                }
            } else {
                RepoError::Io {
                    command: command.to_string(),
                    source,
                }
            }
        })?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (stopped, stderr) = tokio::join!(read_stdout(stdout, on_chunk), read_stderr(stderr));
        let stopped = stopped.map_err(|source| RepoError::Io {
            command: command.to_string(),
            source,
        })?;
        if stopped {
            // Already gone (SIGPIPE) is fine.
            let _ = child.start_kill();
        }
        let status = child.wait().await.map_err(|source| RepoError::Io {
            command: command.to_string(),
            source,
        })?;
        Ok(Finished {
            status,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(RepoError::TimedOut {
            command: command.to_string(),
            timeout,
        }),
    }
}

fn program_name(cmd: &Command) -> String {
    let program: &OsStr = cmd.as_std().get_program();
    program.to_string_lossy().into_owned()
}

/// Feeds stdout to `on_chunk`; true when it asked to stop. Returning drops
/// the pipe, which is what lets a stopped git exit.
async fn read_stdout(
    stdout: Option<impl AsyncRead + Unpin>,
    mut on_chunk: impl FnMut(&[u8]) -> Flow,
) -> std::io::Result<bool> {
    let Some(mut stdout) = stdout else {
        return Ok(false);
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = stdout.read(&mut buf).await?;
        let Some(chunk) = buf.get(..n) else {
            return Ok(false);
        };
        if chunk.is_empty() {
            return Ok(false);
        }
        if on_chunk(chunk) == Flow::Stop {
            return Ok(true);
        }
    }
}

/// Drains stderr to its end (so git never blocks on it), keeping the head.
async fn read_stderr(stderr: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut stderr) = stderr else {
        return kept;
    };
    let mut buf = [0u8; 4096];
    loop {
        match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = STDERR_KEEP.saturating_sub(kept.len());
                if let Some(chunk) = buf.get(..n.min(room)) {
                    kept.extend_from_slice(chunk);
                }
            }
        }
    }
}

/// Longest revision accepted. Commit ids are 40 (SHA-1) or 64 (SHA-256)
/// characters; tag and branch names from a deploy pipeline fit well within.
pub const MAX_REVISION_LEN: usize = 200;

/// Refuses revision text git should never see. Revisions come from deploy
/// markers sent over HTTP, so they are untrusted: a leading `-` would be read
/// as an option (`--output=/etc/passwd`), and the character set excludes
/// whitespace, shell and pathspec syntax (`:/text` searches, `rev:path`
/// blobs). `^{/text}` (a commit-message search) is refused too: it walks
/// history, and no deploy names a commit that way.
pub(crate) fn check_revision(rev: &str) -> Result<(), RepoError> {
    let refuse = |reason: &'static str| {
        Err(RepoError::BadRevision {
            rev: quote_untrusted(rev),
            reason,
        })
    };
    if rev.is_empty() {
        return refuse("empty");
    }
    if rev.starts_with('-') {
        return refuse("starts with '-'");
    }
    if rev.len() > MAX_REVISION_LEN {
        return refuse("longer than 200 characters");
    }
    if !rev.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'.' | b'_' | b'/' | b'~' | b'^' | b'@' | b'{' | b'}' | b'-'
            )
    }) {
        return refuse("has characters outside [A-Za-z0-9._/~^@{}-]");
    }
    if rev.contains("{/") {
        return refuse("is a commit-message search (^{/...})");
    }
    Ok(())
}

/// Untrusted text for an error message: at most 80 characters, escaped
/// (`{:?}`), so a revision cannot forge log lines or fill them.
pub(crate) fn quote_untrusted(text: &str) -> String {
    const KEEP: usize = 80;
    if text.chars().count() <= KEEP {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(KEEP).collect();
    format!("{head:?}...")
}

/// Whether `text` is a full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase
/// hex digits, what `rev-parse` prints.
pub(crate) fn is_full_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
