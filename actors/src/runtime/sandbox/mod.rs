//! Running a command Suture does not trust (a service's test or lint
//! command, an external coding agent), contained:
//!
//! - **nothing inherited**: the environment is exactly [`Contained::env`]
//!   (start from [`base_env`]), so the sidecar's own secrets (the GitHub
//!   token, the admin token, an LLM key) never reach the command unless a
//!   caller passes them on purpose; stdin is `/dev/null`;
//! - **one process group**, killed as a whole when the command's leader
//!   exits (what it left running in the background), at the timeout, or
//!   when the future is dropped (the actor that ran it was killed);
//! - **bounded output**: stdout and stderr share one pipe, so the text
//!   interleaves as a terminal would show it; it is read while the command
//!   runs (a chatty command never blocks on a full pipe) and at most
//!   [`Contained::output_limit`] bytes are kept, head and tail;
//! - **no network** on request ([`Network::None`]): a network namespace
//!   of its own (see [`netns`]), when the sidecar may create one.
//!
//! Not contained: the file system (the command runs with the sidecar's
//! user and can write wherever that user can), and a process that leaves
//! the group on purpose (`setsid`), which only a cgroup or a container
//! would catch.

mod capture;
mod netns;

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::Command;
use tokio::time::Instant;

use self::capture::Capture;
use crate::runtime::task::OwnedProcess;

pub use self::netns::available as network_isolation_available;

/// How long output is still read after the group was killed. Killed
/// processes close the pipe at once; only one that escaped the group keeps
/// it open, and its output is not worth waiting for.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

/// How long the leader is waited for after a SIGKILL at the timeout.
const REAP_AFTER_KILL: Duration = Duration::from_secs(5);

/// Bytes read from the pipe at a time.
const CHUNK: usize = 64 * 1024;

/// What network a contained command gets (`agent.network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A network namespace of its own, with only its own loopback (when
    /// the sidecar may create one; see [`network_isolation_available`]).
    None,
    /// The host's network, as the sidecar has it.
    Host,
}

impl Network {
    /// From the configuration's spelling: `"none"` or `"host"`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "none" => Some(Network::None),
            "host" => Some(Network::Host),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Network::None => "none",
            Network::Host => "host",
        }
    }
}

/// One command to run.
#[derive(Clone)]
pub struct Contained {
    /// The program and its arguments; never run through a shell.
    pub argv: Vec<String>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// Its **whole** environment: nothing of the sidecar's is inherited.
    /// `HOME` and `TMPDIR`, when set, are created if missing.
    pub env: Vec<(String, String)>,
    /// Past this, the whole group is killed.
    pub timeout: Duration,
    pub network: Network,
    /// Most bytes of output kept (head and tail).
    pub output_limit: usize,
}

/// Only the variables' names: their values may be secrets.
impl fmt::Debug for Contained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contained")
            .field("argv", &self.argv)
            .field("cwd", &self.cwd)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("network", &self.network)
            .field("output_limit", &self.output_limit)
            .finish()
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it (one it sent itself, or someone else's).
    Signal(i32),
    /// It ran past its timeout and was killed with its group.
    TimedOut,
}

impl Exit {
    /// Exited with code 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "killed by signal {signal}"),
            Exit::TimedOut => f.write_str("timed out"),
        }
    }
}

/// What a contained command did.
#[derive(Debug, Clone)]
pub struct ContainedOutcome {
    pub exit: Exit,
    /// Stdout and stderr as they interleaved; when longer than the limit,
    /// its head, a line `[… N bytes cut …]`, and its tail.
    pub output: String,
    /// From the start to the leader's exit (or the timeout).
    pub elapsed: Duration,
    /// Whether it really ran without the host's network: false for
    /// [`Network::Host`], and for [`Network::None`] where isolation is
    /// unavailable.
    pub network_isolated: bool,
}

/// A command that could not be run at all (as opposed to one that ran and
/// failed, which is a [`ContainedOutcome`]).
#[derive(Debug)]
pub enum SandboxError {
    /// `argv` was empty.
    EmptyCommand,
    /// The program could not be started (not found, not executable, a
    /// missing working directory).
    Spawn {
        program: String,
        cwd: PathBuf,
        source: std::io::Error,
    },
    /// Setting up or waiting for the command failed.
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SandboxError::EmptyCommand => f.write_str("empty command"),
            SandboxError::Spawn {
                program,
                cwd,
                source,
            } => write!(f, "cannot run `{program}` in {}: {source}", cwd.display()),
            SandboxError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for SandboxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SandboxError::EmptyCommand => None,
            SandboxError::Spawn { source, .. } | SandboxError::Io { source, .. } => Some(source),
        }
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// The environment a contained command starts from: the sidecar's `PATH`
/// (so the tools the operator installed are found), `HOME` = `home`,
/// `TMPDIR` = `home/tmp`, and a UTF-8 locale (`LANG`, `LC_ALL` =
/// `C.UTF-8`) so tools print text the same way everywhere. Nothing else.
pub fn base_env(home: &Path) -> Vec<(String, String)> {
    let path = std::env::var("PATH")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_string());
    vec![
        ("PATH".into(), path),
        ("HOME".into(), home.to_string_lossy().into_owned()),
        (
            "TMPDIR".into(),
            home.join("tmp").to_string_lossy().into_owned(),
        ),
        ("LANG".into(), "C.UTF-8".into()),
        ("LC_ALL".into(), "C.UTF-8".into()),
    ]
}

/// Runs `c` to its end or its timeout. A command that ran is `Ok` whatever
/// its exit; `Err` means it could not be started.
pub async fn run(c: Contained) -> Result<ContainedOutcome, SandboxError> {
    let (program, args) = c.argv.split_first().ok_or(SandboxError::EmptyCommand)?;
    for (name, value) in &c.env {
        if name == "HOME" || name == "TMPDIR" {
            std::fs::create_dir_all(value).map_err(io_error(format!("create {name} {value}")))?;
        }
    }
    let isolated = c.network == Network::None && netns::available();

    // One pipe for stdout and stderr: the order of their lines is kept.
    let (writer, mut reader) = pipe::pipe().map_err(io_error("create the output pipe"))?;
    let writer = writer
        .into_blocking_fd()
        .map_err(io_error("create the output pipe"))?;
    let stderr = writer
        .try_clone()
        .map_err(io_error("create the output pipe"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(&c.cwd)
        .env_clear()
        .envs(c.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(stderr));
    if isolated {
        netns::isolate(&mut command);
    }

    let started = Instant::now();
    // `spawn` consumes the command, closing our copies of the pipe's write
    // end: the pipe ends when the group's last process does.
    let mut process = OwnedProcess::spawn(command).map_err(|source| SandboxError::Spawn {
        program: program.clone(),
        cwd: c.cwd.clone(),
        source,
    })?;
    let mut capture = Capture::new(c.output_limit);
    let mut chunk = vec![0u8; CHUNK];
    let mut reading = true;
    let deadline = started + c.timeout;
    let status = loop {
        tokio::select! {
            read = reader.read(&mut chunk), if reading => match read {
                Ok(0) => reading = false,
                Ok(n) => capture.push(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, program = %program, "reading a contained command's output failed");
                    reading = false;
                }
            },
            status = process.child().wait() => {
                break Some(status.map_err(io_error(format!("wait for `{program}`")))?);
            }
            () = tokio::time::sleep_until(deadline) => break None,
        }
    };
    let elapsed = started.elapsed();
    // What the leader left behind, or everything at the timeout.
    process.kill();
    if status.is_none() {
        // Reap the leader so it is not left a zombie.
        let _ = tokio::time::timeout(REAP_AFTER_KILL, process.child().wait()).await;
    }
    if reading {
        drain(&mut reader, &mut capture, &mut chunk).await;
    }
    let exit = status.map_or(Exit::TimedOut, exit_of);
    tracing::debug!(
        program = %program,
        %exit,
        elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        output_bytes = capture.total(),
        network_isolated = isolated,
        "contained command"
    );
    Ok(ContainedOutcome {
        exit,
        output: capture.into_text(),
        elapsed,
        network_isolated: isolated,
    })
}

/// Reads what is left in the pipe, for a bounded time.
async fn drain(reader: &mut pipe::Receiver, capture: &mut Capture, chunk: &mut [u8]) {
    let _ = tokio::time::timeout(DRAIN_AFTER_KILL, async {
        loop {
            match reader.read(chunk).await {
                Ok(0) => break,
                Ok(n) => capture.push(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    })
    .await;
}

fn exit_of(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        // Neither: not something wait(2) reports for an ended process.
        (None, None) => Exit::Code(-1),
    }
}

#[cfg(test)]
mod tests;
