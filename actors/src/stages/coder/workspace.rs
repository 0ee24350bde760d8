//! The files of one attempt's worktree, as the agent may see and change
//! them. Every path comes from a model or an external agent: it goes
//! through [`RelPath::parse`], and what it names is resolved (symlinks
//! followed) and must stay inside the worktree.

use std::path::{Path, PathBuf};

use crate::domain::coder::apply::{Applied, FileSource};
use crate::domain::coder::path::RelPath;

/// Largest file the agent reads or edits: source files are far smaller; a
/// bigger one is data or generated.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    pub fn new(root: &Path) -> Self {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file `path` names, checked: inside the worktree once symlinks
    /// are resolved (a missing file's folder is checked instead).
    pub fn resolve(&self, path: &RelPath) -> Result<PathBuf, String> {
        let joined = self.root.join(path.as_str());
        let real = match joined.canonicalize() {
            Ok(real) => real,
            Err(_) => {
                // A new file: its nearest existing folder must be inside.
                let mut folder = joined.parent().map(Path::to_path_buf);
                while let Some(f) = folder {
                    if let Ok(real) = f.canonicalize() {
                        if !real.starts_with(&self.root) {
                            return Err(format!("`{path}` leaves the repository"));
                        }
                        return Ok(joined);
                    }
                    folder = f.parent().map(Path::to_path_buf);
                }
                return Err(format!("`{path}` leaves the repository"));
            }
        };
        if !real.starts_with(&self.root) {
            return Err(format!("`{path}` leaves the repository (a symlink)"));
        }
        Ok(real)
    }

    /// A file's text; `Ok(None)` when it does not exist.
    pub fn read(&self, path: &RelPath) -> Result<Option<String>, String> {
        let file = self.resolve(path)?;
        let meta = match std::fs::metadata(&file) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("`{path}` cannot be read: {e}")),
        };
        if meta.is_dir() {
            return Err(format!("`{path}` is a folder"));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "`{path}` is {} bytes, over the {MAX_FILE_BYTES} bytes the agent edits",
                meta.len()
            ));
        }
        let bytes = std::fs::read(&file).map_err(|e| format!("`{path}` cannot be read: {e}"))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("`{path}` is not UTF-8 text"))
    }

    /// Writes what [`crate::domain::coder::apply::apply_edits`] produced.
    pub fn write(&self, applied: &Applied) -> Result<(), String> {
        for (path, file) in &applied.files {
            let target = self.resolve(path)?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create the folder of `{path}`: {e}"))?;
            }
            std::fs::write(&target, &file.content)
                .map_err(|e| format!("cannot write `{path}`: {e}"))?;
        }
        Ok(())
    }
}

impl FileSource for Workspace {
    fn read(&self, path: &RelPath) -> Result<Option<String>, String> {
        Workspace::read(self, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_worktree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("wt");
        std::fs::create_dir_all(root.join("src")).expect("mkdir");
        std::fs::write(root.join("src/a.py"), "x = 1\n").expect("write");
        std::fs::write(dir.path().join("secret.txt"), "token").expect("write");
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link"))
            .expect("symlink");
        let ws = Workspace::new(&root);
        let parse = |p: &str| RelPath::parse(p).expect("path");
        assert_eq!(ws.read(&parse("src/a.py")), Ok(Some("x = 1\n".into())));
        assert_eq!(ws.read(&parse("src/new.py")), Ok(None));
        let escape = ws.read(&parse("link")).expect_err("symlink out");
        assert!(escape.contains("leaves the repository"), "{escape}");
        assert!(
            ws.read(&parse("src"))
                .expect_err("folder")
                .contains("folder")
        );
    }
}
