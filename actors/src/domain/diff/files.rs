//! The tracked paths of one commit, and the mapping from the file names in
//! stack frames to them.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Every tracked path at one commit. Cheap to clone (shared).
#[derive(Clone)]
pub struct RepoFiles {
    inner: Arc<Inner>,
}

struct Inner {
    /// Sorted, without duplicates.
    paths: Vec<String>,
    /// Last path component to the indexes (into `paths`) of the paths
    /// ending in it: a frame is only compared with paths sharing its file
    /// name, so resolving stays fast in a repository of 100,000 files.
    by_name: HashMap<String, Vec<usize>>,
}

/// Directories third-party code is installed into. A frame inside one only
/// resolves to a repository path that contains that directory too, so
/// `/app/node_modules/express/lib/router.js` never becomes the service's own
/// `lib/router.js`.
const THIRD_PARTY_DIRS: &[&str] = &["node_modules", "site-packages", "dist-packages"];

impl RepoFiles {
    /// From repository paths (`/`-separated, relative to the root). Empty
    /// strings are dropped, duplicates merged.
    pub fn from_paths(paths: impl IntoIterator<Item = String>) -> Self {
        let mut paths: Vec<String> = paths.into_iter().filter(|p| !p.is_empty()).collect();
        paths.sort_unstable();
        paths.dedup();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, path) in paths.iter().enumerate() {
            let name = path.rsplit('/').next().unwrap_or(path);
            by_name.entry(name.to_string()).or_default().push(index);
        }
        RepoFiles {
            inner: Arc::new(Inner { paths, by_name }),
        }
    }

    /// Whether `path` is tracked (exact, `/`-separated).
    pub fn contains(&self, path: &str) -> bool {
        self.inner
            .paths
            .binary_search_by(|p| p.as_str().cmp(path))
            .is_ok()
    }

    /// Number of tracked paths.
    pub fn len(&self) -> usize {
        self.inner.paths.len()
    }

    /// Whether there are no tracked paths.
    pub fn is_empty(&self) -> bool {
        self.inner.paths.is_empty()
    }

    /// The tracked paths, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.inner.paths.iter().map(String::as_str)
    }

    /// Maps a stack-frame filename, as SDKs send it, to a repository path.
    ///
    /// The frame is reduced to path components first: a URL loses its scheme
    /// (`webpack://`, `app://`, `file://`), for http(s) its host, and its query
    /// and fragment; a plain path loses a `?query`; backslashes separate
    /// components; a Windows drive (`C:`), `.` and empty components are
    /// dropped, and `..` removes the component before it. Then:
    ///
    /// - components that are exactly a tracked path are that path (a bare
    ///   relative path that exists is itself);
    /// - otherwise the tracked path sharing the longest suffix of components
    ///   wins: `/app/src/pay/charge.py` is `src/pay/charge.py`;
    /// - a match of the file name alone counts only when one side has no
    ///   more directories (`Charge.java` is `src/main/java/Charge.java`, and
    ///   `/app/charge.py` is `charge.py`), never when both continue with
    ///   different directories: `/usr/lib/python3/json/__init__.py` is not
    ///   the service's `pkg/__init__.py`;
    /// - a frame under `node_modules`, `site-packages` or `dist-packages`
    ///   matches only a path containing that directory too;
    /// - between two paths with the same longest suffix, one whose own
    ///   components are all matched (nothing contradicts it) beats one that
    ///   continues with a directory the frame does not have; otherwise the
    ///   match is ambiguous and the answer is `None`, because a wrong file
    ///   would send triage after the wrong change.
    ///
    /// Matching is case-sensitive: repository paths are.
    pub fn resolve(&self, frame_path: &str) -> Option<&str> {
        let comps = frame_components(frame_path);
        let name = *comps.last()?;
        let candidates = self.inner.by_name.get(name)?;
        let joined = comps.join("/");
        if self.contains(&joined) {
            return self.get(&joined);
        }
        // The match must reach back to the last third-party directory.
        let required = comps
            .iter()
            .rposition(|c| THIRD_PARTY_DIRS.contains(c))
            .map_or(1, |at| comps.len() - at);

        // (matched components, uncontradicted), index; and whether the best
        // score is shared.
        let mut best: Option<((usize, bool), usize)> = None;
        let mut tied = false;
        for &index in candidates {
            let Some(path) = self.inner.paths.get(index) else {
                continue;
            };
            let path_len = path.split('/').count();
            let matched = path
                .rsplit('/')
                .zip(comps.iter().rev())
                .take_while(|(a, b)| a == *b)
                .count();
            let uncontradicted = matched == path_len || matched == comps.len();
            if matched < required || (matched < 2 && !uncontradicted) {
                continue;
            }
            let score = (matched, matched == path_len);
            match best {
                Some((top, _)) if score < top => {}
                Some((top, _)) if score == top => tied = true,
                _ => {
                    best = Some((score, index));
                    tied = false;
                }
            }
        }
        if tied {
            return None;
        }
        best.and_then(|(_, index)| self.inner.paths.get(index).map(String::as_str))
    }

    fn get(&self, path: &str) -> Option<&str> {
        let index = self
            .inner
            .paths
            .binary_search_by(|p| p.as_str().cmp(path))
            .ok()?;
        self.inner.paths.get(index).map(String::as_str)
    }
}

impl fmt::Debug for RepoFiles {
    /// The count and a few paths: a repository's whole listing in a log line
    /// would drown it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepoFiles")
            .field("len", &self.len())
            .field(
                "first",
                &self.inner.paths.iter().take(3).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A frame filename reduced to path components (see [`RepoFiles::resolve`]).
pub(crate) fn frame_components(frame_path: &str) -> Vec<&str> {
    let mut text = frame_path.trim();
    if let Some((scheme, rest)) = split_scheme(text) {
        text = rest.split(['?', '#']).next().unwrap_or("");
        if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
            text = text.split_once('/').map_or("", |(_host, path)| path);
        }
    } else {
        text = text.split('?').next().unwrap_or("");
    }
    let mut comps: Vec<&str> = Vec::new();
    for comp in text.split(['/', '\\']) {
        match comp {
            "" | "." => {}
            ".." => {
                comps.pop();
            }
            drive if comps.is_empty() && is_drive(drive) => {}
            _ => comps.push(comp),
        }
    }
    comps
}

/// `scheme://rest`, the scheme being `[A-Za-z][A-Za-z0-9+.-]*`.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
    .then_some((scheme, rest))
}

/// `C:`: a Windows drive.
fn is_drive(comp: &str) -> bool {
    let bytes = comp.as_bytes();
    bytes.len() == 2
        && bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes.get(1) == Some(&b':')
}
