//! Process figures from /proc: RSS (current and peak) and CPU time, for the
//! server (`--server-pid`) and for the client itself, so a reader can tell
//! whether the client, not the server, was the bottleneck.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::stats::{fmt_mib, round1};

/// Linux reports utime/stime in USER_HZ, which is 100 on every architecture
/// Rust targets (the kernel's HZ may differ, USER_HZ does not).
const USER_HZ: f64 = 100.0;

fn status_kib(pid: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// utime + stime in clock ticks, summed over all threads.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: skip past it.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")" field 0 is state (stat field 3), so utime (14) is index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Watches one process over a measured window.
pub struct ProcWatch {
    pid: String,
    /// Whether VmHWM was reset at the start, so peak RSS covers this run only.
    hwm_reset: bool,
    cpu_start: Option<(u64, Instant)>,
    cpu_end: Option<(u64, Instant)>,
}

impl ProcWatch {
    /// For the server: resets its peak RSS if the kernel lets us (writing
    /// "5" to clear_refs, Linux ≥ 4.0, same user or root), so the reported
    /// peak belongs to this run rather than to the process's whole life.
    pub fn server(pid: u32) -> Self {
        let pid = pid.to_string();
        let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        ProcWatch {
            pid,
            hwm_reset,
            cpu_start: None,
            cpu_end: None,
        }
    }

    pub fn this_process() -> Self {
        ProcWatch {
            pid: "self".into(),
            hwm_reset: false,
            cpu_start: None,
            cpu_end: None,
        }
    }

    /// Whether the process used under 5% of a core since the previous call
    /// (`None` on the first call or when unreadable). The drain wait uses it:
    /// a server still chewing on a backlog is not settled, whatever its
    /// counters say.
    pub fn idle_since_last(&mut self, last: &mut Option<(u64, Instant)>) -> Option<bool> {
        let now = (cpu_ticks(&self.pid)?, Instant::now());
        let prev = last.replace(now)?;
        let wall = now.1.saturating_duration_since(prev.1).as_secs_f64();
        if wall <= 0.0 {
            return None;
        }
        let cores = now.0.saturating_sub(prev.0) as f64 / USER_HZ / wall;
        Some(cores < 0.05)
    }

    /// Marks the start of the CPU measurement window.
    pub fn start_cpu(&mut self) {
        self.cpu_start = cpu_ticks(&self.pid).map(|t| (t, Instant::now()));
    }

    /// Marks the end of the CPU measurement window.
    pub fn end_cpu(&mut self) {
        self.cpu_end = cpu_ticks(&self.pid).map(|t| (t, Instant::now()));
    }

    /// CPU use over the window as a percentage of one core.
    pub fn cpu_percent(&self) -> Option<f64> {
        let ((t0, i0), (t1, i1)) = (self.cpu_start?, self.cpu_end?);
        let wall = i1.saturating_duration_since(i0);
        if wall < Duration::from_millis(10) {
            return None;
        }
        Some(t1.saturating_sub(t0) as f64 / USER_HZ / wall.as_secs_f64() * 100.0)
    }

    pub fn figures(&self) -> ProcFigures {
        ProcFigures {
            peak_rss_kib: status_kib(&self.pid, "VmHWM"),
            rss_kib: status_kib(&self.pid, "VmRSS"),
            peak_is_run_only: self.hwm_reset,
            cpu_percent: self.cpu_percent(),
        }
    }
}

pub struct ProcFigures {
    pub peak_rss_kib: Option<u64>,
    pub rss_kib: Option<u64>,
    pub peak_is_run_only: bool,
    pub cpu_percent: Option<f64>,
}

impl ProcFigures {
    pub fn to_json(&self) -> Value {
        json!({
            "peak_rss_kib": self.peak_rss_kib,
            "rss_kib": self.rss_kib,
            "peak_rss_scope": if self.peak_is_run_only { "run" } else { "process lifetime" },
            "cpu_percent_of_one_core": self.cpu_percent.map(round1),
        })
    }

    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = self.peak_rss_kib {
            let scope = if self.peak_is_run_only {
                "this run"
            } else {
                "process lifetime"
            };
            parts.push(format!("peak RSS {} ({scope})", fmt_mib(p)));
        }
        if let Some(r) = self.rss_kib {
            parts.push(format!("RSS now {}", fmt_mib(r)));
        }
        if let Some(c) = self.cpu_percent {
            parts.push(format!("CPU {c:.0}% of one core"));
        }
        if parts.is_empty() {
            "not readable (process gone?)".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Datagrams the kernel dropped before the server read them (receive
/// buffer full). The server cannot count these, so loss is split between
/// "kernel" and "server" with this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelDrops {
    /// The `drops` column of the server's own socket(s) in /proc/net/udp{,6},
    /// matched by local port: exact, when the server is on this host.
    Socket(u64),
    /// RcvbufErrors from /proc/net/snmp: every UDP socket on the host.
    HostWide(u64),
}

impl KernelDrops {
    /// Reads the socket figure when a socket bound to `port` is found, the
    /// host-wide one otherwise.
    pub fn read(port: u16) -> Option<Self> {
        socket_drops(port)
            .map(KernelDrops::Socket)
            .or_else(|| udp_rcvbuf_errors().map(KernelDrops::HostWide))
    }

    /// `self − before`, if both are of the same kind.
    pub fn since(self, before: Option<Self>) -> Option<Self> {
        match (before?, self) {
            (KernelDrops::Socket(b), KernelDrops::Socket(a)) => {
                Some(KernelDrops::Socket(a.saturating_sub(b)))
            }
            (KernelDrops::HostWide(b), KernelDrops::HostWide(a)) => {
                Some(KernelDrops::HostWide(a.saturating_sub(b)))
            }
            _ => None,
        }
    }

    pub fn count(self) -> u64 {
        match self {
            KernelDrops::Socket(n) | KernelDrops::HostWide(n) => n,
        }
    }

    pub fn scope(self) -> &'static str {
        match self {
            KernelDrops::Socket(_) => "server socket",
            KernelDrops::HostWide(_) => "host-wide",
        }
    }
}

fn socket_drops(port: u16) -> Option<u64> {
    let want = format!(":{port:04X}");
    let mut found = None;
    for file in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st queues tr retrnsmt uid timeout inode ref pointer drops
            let drops = cols
                .get(1)
                .filter(|l| l.ends_with(&want))
                .and_then(|_| cols.get(12)?.parse::<u64>().ok());
            if let Some(d) = drops {
                *found.get_or_insert(0) += d;
            }
        }
    }
    found
}

fn udp_rcvbuf_errors() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let header: Vec<&str> = udp.next()?.split_whitespace().collect();
    let values: Vec<&str> = udp.next()?.split_whitespace().collect();
    let idx = header.iter().position(|&h| h == "RcvbufErrors")?;
    values.get(idx)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let w = ProcWatch::this_process();
        let f = w.figures();
        assert!(f.rss_kib.unwrap_or(0) > 0);
        assert!(cpu_ticks("self").is_some());
    }

    #[test]
    fn finds_a_bound_udp_socket() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = sock.local_addr().expect("addr").port();
        assert_eq!(KernelDrops::read(port), Some(KernelDrops::Socket(0)));
    }
}
