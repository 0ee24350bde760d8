//! `agent.network = "none"`: a child in a network namespace of its own,
//! holding nothing but its own loopback.
//!
//! The namespace is entered between fork and exec (`unshare(CLONE_NEWNET)`),
//! so the command itself needs no helper binary. Its loopback is brought up:
//! a test suite that starts a server on 127.0.0.1 still works, but that
//! 127.0.0.1 is the namespace's own, and neither the host's loopback (the
//! sidecar, a local database) nor any other network is reachable.
//!
//! Creating a network namespace takes `CAP_SYS_ADMIN` (root, or a container
//! that grants it). Whether it works is probed once per process, on a
//! short-lived thread that enters a namespace and exits; without it the
//! command runs on the host's network, the outcome says
//! `network_isolated: false`, and a warning is logged once.

use std::io;
use std::sync::OnceLock;

use tokio::process::Command;

/// Whether children can be given an empty network namespace here. Probed
/// on first use, then cached.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let probe = std::thread::Builder::new()
            .name("suture-netns-probe".into())
            .spawn(enter)
            .map_err(|e| e.to_string())
            .and_then(|thread| {
                thread
                    .join()
                    .map_err(|_| "the probe thread panicked".to_string())
            })
            .and_then(|entered| entered.map_err(|e| e.to_string()));
        match probe {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    %error,
                    "network isolation is unavailable (it needs CAP_SYS_ADMIN, e.g. root): \
                     commands with network \"none\" run on the host's network"
                );
                false
            }
        }
    })
}

/// Makes `command` start in a new, empty network namespace.
pub(super) fn isolate(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec. It makes
    // only async-signal-safe system calls (unshare, socket, ioctl, close)
    // and builds errors from errno, which allocates nothing.
    unsafe {
        command.pre_exec(enter);
    }
}

/// Moves the calling thread (in a child: its only thread) into a new
/// network namespace and brings its loopback up.
#[cfg(target_os = "linux")]
fn enter() -> io::Result<()> {
    // SAFETY: unshare(2) changes only the calling thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    loopback_up()
}

#[cfg(not(target_os = "linux"))]
fn enter() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "network namespaces are a Linux feature",
    ))
}

/// `ip link set lo up`, by hand: a new namespace's loopback starts down.
#[cfg(target_os = "linux")]
fn loopback_up() -> io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    // SAFETY: socket(2) returns a new descriptor or -1; a valid one is
    // owned (and closed) by `socket` below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just opened and nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write an ifreq, which
    // `request` is; its flags member is the one they use.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut request) != 0 {
            return Err(io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS as _, &request) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
