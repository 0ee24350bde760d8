//! Pushing a fix's branch to the service's remote.
//!
//! The token (from the variable `github.token_env` names) reaches git only
//! through an askpass helper: git asks the helper for the password, the
//! helper prints the variable git was started with. The token is never in
//! an argument (visible in `ps`), a URL, the repository's config, a log
//! line or a transcript; credential helpers are switched off so it is not
//! stored either. The helper script itself holds no secret.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::runner::{describe, failed, run};
use super::worktree::fix_branch_name_ok;
use super::{Repo, RepoError};
use crate::domain::diff::Flow;

/// The variable the askpass helper reads; set only in git's environment.
const TOKEN_VAR: &str = "SUTURE_GIT_PUSH_TOKEN";

/// The askpass helper: the user name GitHub expects for tokens, then the
/// token from git's environment.
const ASKPASS: &str = "#!/bin/sh\n# Suture's git askpass helper: prints the push token git was started with.\ncase \"$1\" in\n  Username*) echo x-access-token ;;\n  *) printf '%s\\n' \"$SUTURE_GIT_PUSH_TOKEN\" ;;\nesac\n";

impl Repo {
    /// Pushes `branch` (one of Suture's `suture/fix-*` branches) to
    /// `remote`, forcing it (the branch is Suture's own, and pushing the
    /// same commit again after a crash is a no-op). `scratch` is a folder
    /// Suture owns, where the askpass helper is written.
    pub async fn push_branch(
        &self,
        remote: &str,
        branch: &str,
        token: Option<&str>,
        scratch: &Path,
    ) -> Result<(), RepoError> {
        self.push_branch_to(remote, branch, branch, token, scratch)
            .await
    }

    /// Pushes the local `branch` to the remote's `to` (both Suture's own
    /// `suture/fix-*` branches), forcing it: a revision's commit replaces
    /// the revised fix on its pull request's branch.
    pub async fn push_branch_to(
        &self,
        remote: &str,
        branch: &str,
        to: &str,
        token: Option<&str>,
        scratch: &Path,
    ) -> Result<(), RepoError> {
        for name in [branch, to] {
            if !fix_branch_name_ok(name) {
                return Err(RepoError::BadRevision {
                    rev: name.chars().take(80).collect(),
                    reason: "only suture/fix-* branches are pushed",
                });
            }
        }
        let remote_ok = !remote.is_empty()
            && !remote.starts_with('-')
            && remote
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !remote_ok {
            return Err(RepoError::BadRevision {
                rev: remote.chars().take(80).collect(),
                reason: "a remote is named by letters, digits, '-', '_' and '.'",
            });
        }
        let askpass = scratch.join(".suture-askpass");
        write_askpass(&askpass).map_err(|source| RepoError::Io {
            command: format!("write {}", askpass.display()),
            source,
        })?;
        let refspec = format!("+refs/heads/{branch}:refs/heads/{to}");
        let args = [
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "credential.helper=",
            "push",
            "--quiet",
            "--no-verify",
            remote,
            &refspec,
        ];
        let mut cmd = self.git.command(&args);
        cmd.env("GIT_ASKPASS", &askpass)
            .env_remove("SSH_ASKPASS")
            .env_remove(TOKEN_VAR);
        if let Some(token) = token {
            cmd.env(TOKEN_VAR, token);
        }
        let command = describe(&args);
        let finished = run(cmd, &command, self.git.timeout, |_| Flow::More).await?;
        if !finished.status.success() {
            return Err(failed(&args, &finished));
        }
        Ok(())
    }
}

fn write_askpass(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let current = std::fs::read_to_string(path).ok();
    if current.as_deref() != Some(ASKPASS) {
        std::fs::write(path, ASKPASS)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}
