//! Repository paths written by a model or an external agent: untrusted text
//! that becomes a file the sidecar writes. [`RelPath::parse`] is the one
//! gate every such path goes through before any I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest path accepted, in bytes: far above any real repository path
/// (git itself warns past 4096), low enough that an error message quoting
/// it stays readable.
pub const MAX_PATH_LEN: usize = 1024;

/// A path relative to the repository root, `/`-separated and normalized:
/// no empty, `.` or `..` component, not absolute, no component named
/// `.git` (in any case: a case-insensitive filesystem would still write
/// into the repository's own database), no control characters, no
/// backslashes, no whitespace.
///
/// Whitespace is refused because the edit format puts the path alone on a
/// line: `Here is the fix for app.py` would otherwise be a file name, and an
/// empty SEARCH block would create it. Repositories with spaces in their
/// paths cannot be edited by the built-in agent (an external agent's diff
/// is checked by the guardrails instead, which do not need this type).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("the path is longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    #[error("the path is absolute: give it relative to the repository root")]
    Absolute,
    #[error("the path leaves the repository (`..`)")]
    ParentDir,
    #[error("the path is inside `.git`, the repository's own database")]
    GitDir,
    #[error("the path contains a backslash: use `/` between directories")]
    Backslash,
    #[error("the path contains whitespace: it must be alone on its line, with nothing else")]
    Whitespace,
    #[error("the path contains a control character")]
    Control,
    #[error("the path names a directory, not a file")]
    Directory,
}

impl RelPath {
    /// Validates and normalizes: `./src//app.py` becomes `src/app.py`.
    pub fn parse(text: &str) -> Result<RelPath, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if text.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        if text.chars().any(char::is_control) {
            return Err(PathError::Control);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(PathError::Whitespace);
        }
        if text.contains('\\') {
            return Err(PathError::Backslash);
        }
        if text.starts_with('/') || text.starts_with('~') || has_drive_letter(text) {
            return Err(PathError::Absolute);
        }
        if text.ends_with('/') {
            return Err(PathError::Directory);
        }
        let mut parts = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(PathError::ParentDir),
                _ if part.eq_ignore_ascii_case(".git") => return Err(PathError::GitDir),
                _ => parts.push(part),
            }
        }
        if parts.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(RelPath(parts.join("/")))
    }

    /// The normalized path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `C:` or `c:/...`: absolute on Windows, and never a sensible repository
/// file name.
fn has_drive_letter(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(
        (chars.next(), chars.next()),
        (Some(letter), Some(':')) if letter.is_ascii_alphabetic()
    )
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RelPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RelPath {
    type Error = PathError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        RelPath::parse(&text)
    }
}

impl From<RelPath> for String {
    fn from(path: RelPath) -> String {
        path.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dots_and_slashes() {
        assert_eq!(
            RelPath::parse("./src//app.py").unwrap().as_str(),
            "src/app.py"
        );
        assert_eq!(RelPath::parse("a/./b.rs").unwrap().as_str(), "a/b.rs");
        assert_eq!(
            RelPath::parse(".github-not/x").unwrap().as_str(),
            ".github-not/x"
        );
        assert_eq!(RelPath::parse(".gitignore").unwrap().as_str(), ".gitignore");
    }

    #[test]
    fn refuses_what_leaves_or_hides() {
        let cases = [
            ("", PathError::Empty),
            ("./", PathError::Directory),
            (".", PathError::Empty),
            ("/etc/passwd", PathError::Absolute),
            ("~/.ssh/id_rsa", PathError::Absolute),
            ("C:/x.py", PathError::Absolute),
            ("../x.py", PathError::ParentDir),
            ("a/../../x.py", PathError::ParentDir),
            (".git/config", PathError::GitDir),
            ("sub/.GIT/hooks/pre-commit", PathError::GitDir),
            (".git", PathError::GitDir),
            ("a\\b.py", PathError::Backslash),
            ("Here is app.py", PathError::Whitespace),
            ("a\tb", PathError::Control),
            ("a\u{0}b", PathError::Control),
            ("src/", PathError::Directory),
        ];
        for (text, error) in cases {
            assert_eq!(RelPath::parse(text), Err(error), "{text:?}");
        }
        assert_eq!(
            RelPath::parse(&"a".repeat(MAX_PATH_LEN + 1)),
            Err(PathError::TooLong)
        );
    }

    #[test]
    fn serde_validates() {
        let ok: RelPath = serde_json::from_str("\"./x/y.py\"").unwrap();
        assert_eq!(ok.as_str(), "x/y.py");
        assert!(serde_json::from_str::<RelPath>("\"../y.py\"").is_err());
    }
}
