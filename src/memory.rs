//! Process-wide memory settings applied before anything allocates much.

/// Turns transparent huge pages off for this process.
///
/// mimalloc asks the kernel for huge pages on its arenas (`madvise`), and
/// with THP a heap's resident size moves in 2 MiB steps: the soak run saw
/// 98 of 155 MiB of RSS in huge pages of one mimalloc region, so RSS
/// tracked the heap's high-water mark in 2 MiB units rather than live
/// data, and an operator watching the sidecar's memory saw it climb. A
/// sidecar's allocations are small and short-lived; huge pages buy it
/// nothing measurable (ingest throughput is bound by the fsync). Children
/// (the coding agent, test runs) inherit the setting, which is also fine
/// for them. Returns the OS error when the kernel refuses (a kernel before
/// 3.15); the caller warns and goes on.
pub fn disable_transparent_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes one integer argument and the
        // rest must be zero; it touches only this process's flags.
        let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
    // Elsewhere there are no transparent huge pages to turn off.
    #[cfg(not(target_os = "linux"))]
    {
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The kernel reports the flag in `/proc/self/status` (since 6.x as
    /// `THP_enabled`); after the call it must say 0.
    #[test]
    fn huge_pages_are_off_after_the_call() {
        disable_transparent_huge_pages().expect("prctl");
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
            assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
        }
    }
}
