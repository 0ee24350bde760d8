//! Processes a sidecar that died left behind. Commands run contained in
//! their own process groups (see [`super::sandbox`]), so a `kill -9` of the
//! sidecar does not take them along: the kernel kills a process group only
//! when told to. At the next start the coder finds them by their working
//! directory, which is inside the folder Suture owns for worktrees (tests
//! and agents run in a worktree, and what they start inherits it), and
//! kills their groups.
//!
//! Linux only (`/proc`); elsewhere nothing is found.

use std::path::Path;

/// Kills the process group of every process whose working directory is
/// inside `folder`, except Suture's own group. Returns the groups killed.
pub fn kill_groups_under(folder: &Path) -> Vec<i32> {
    let Ok(folder) = folder.canonicalize() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // SAFETY: getpgrp has no preconditions and cannot fail.
    let own_group = unsafe { libc::getpgrp() };
    let mut killed = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if !cwd.starts_with(&folder) {
            continue;
        }
        // SAFETY: getpgid reads another process's group; a pid that is
        // gone gives -1, which is skipped.
        let group = unsafe { libc::getpgid(pid) };
        if group <= 1 || group == own_group || killed.contains(&group) {
            continue;
        }
        // SAFETY: a negative pid signals the whole group; the group was
        // found by a member working inside Suture's own folder.
        if unsafe { libc::kill(-group, libc::SIGKILL) } == 0 {
            killed.push(group);
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runtime::task::{OwnedProcess, process_alive};

    #[tokio::test]
    async fn groups_working_under_the_folder_are_killed_and_others_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inside = dir.path().join("worktrees/T-1-1");
        let outside = dir.path().join("elsewhere");
        std::fs::create_dir_all(&inside).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        let spawn = |cwd: &Path| {
            let mut command = tokio::process::Command::new("sh");
            command.args(["-c", "sleep 300 & wait"]).current_dir(cwd);
            OwnedProcess::spawn(command).expect("spawn")
        };
        let mut orphan = spawn(&inside);
        let mut bystander = spawn(&outside);
        let orphan_pid = orphan.child().id().expect("pid");
        let bystander_pid = bystander.child().id().expect("pid");
        // Give sh time to start its sleep.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let killed = kill_groups_under(&dir.path().join("worktrees"));
        assert_eq!(killed.len(), 1, "{killed:?}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while process_alive(orphan_pid) {
            // Reap it (the test is its parent) so it does not stay a zombie.
            let _ = orphan.child().try_wait();
            assert!(
                tokio::time::Instant::now() < deadline,
                "the orphan survived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            process_alive(bystander_pid),
            "a process elsewhere was killed"
        );
        bystander.kill();
    }
}
