//! Online log-template mining for message-only events (a Drain-style miner).
//!
//! GELF loggers send error lines without stack traces, so the only thing to
//! group them by is the message. Masking known id shapes alone leaves every
//! line whose variable part has no recognisable shape (a user name, a file
//! name, a state word) in a group of its own. The miner learns templates
//! from the lines instead, following Drain (He et al., ICWS 2017):
//!
//! 1. **Pre-masking**: a token holding a digit is a variable (counts, ids,
//!    addresses, block ids, timestamps, hex), and so is a path; both become
//!    `<*>` before the tree sees them. In `key=value` and `key:value` tokens
//!    only the value is judged, so `uid=0` and `euid=0` stay apart.
//! 2. **Fixed-depth prefix tree**: lines are routed by token count, then by
//!    their leading [`TemplateConfig::prefix_tokens`] tokens (a masked token
//!    routes to the wildcard branch), to a small leaf of clusters.
//! 3. **Similarity**: in the leaf, the line joins the cluster whose template
//!    shares the largest fraction of its tokens position by position, if that
//!    fraction reaches [`TemplateConfig::similarity`]; the positions that
//!    differ become `<*>` (wildcard merging). Otherwise it founds a cluster.
//!
//! One configuration serves every system (see `docs/grouping.md` for the
//! Loghub-2k figures): nothing here is tuned per log source.
//!
//! Pure: no clock, no I/O. Cluster ids are dense indices in order of
//! creation, so they are stable for a given input order but not across
//! restarts (templates are not persisted yet).

use std::collections::HashMap;

/// The wildcard written in templates.
pub const WILDCARD: &str = "<*>";

/// The miner's one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateConfig {
    /// Fraction of a line's tokens (position by position) that must equal a
    /// cluster's template for the line to join it. Drain's usual 0.4–0.5:
    /// below it, unrelated lines of the same length merge; above it, a
    /// template with two variables in four tokens never forms.
    pub similarity: f64,
    /// Leading tokens used to route a line in the tree (Drain's depth − 2).
    pub prefix_tokens: usize,
    /// Most tokens looked at: longer lines are cut (bounds work and memory on
    /// hostile input; the tail of a very long line rarely names its kind).
    pub max_tokens: usize,
    /// Most clusters kept; past it, new lines map to the best cluster in
    /// their leaf whatever its similarity, or to a shared overflow id.
    pub max_clusters: usize,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        Self {
            similarity: 0.5,
            prefix_tokens: 2,
            max_tokens: 64,
            max_clusters: 50_000,
        }
    }
}

/// One learned template.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Tokens of the template; variables are [`WILDCARD`].
    pub tokens: Vec<String>,
    /// Lines that matched it.
    pub size: u64,
}

impl Cluster {
    /// The template as text, tokens joined by single spaces.
    pub fn template(&self) -> String {
        self.tokens.join(" ")
    }
}

/// Key of a leaf: token count and routing prefix.
type LeafKey = (usize, Vec<String>);

/// A Drain-style online template miner. See the module documentation.
#[derive(Debug, Default)]
pub struct TemplateMiner {
    config: TemplateConfig,
    clusters: Vec<Cluster>,
    leaves: HashMap<LeafKey, Vec<usize>>,
}

impl TemplateMiner {
    /// A miner with `config`.
    pub fn new(config: TemplateConfig) -> Self {
        Self {
            config,
            clusters: Vec::new(),
            leaves: HashMap::new(),
        }
    }

    /// The clusters learned so far, indexed by cluster id.
    pub fn clusters(&self) -> &[Cluster] {
        &self.clusters
    }

    /// Learns from `line` and returns the id of the cluster it belongs to.
    /// The cluster's template may widen (gain wildcards) as a result.
    pub fn add(&mut self, line: &str) -> usize {
        let tokens = tokenize(line, self.config.max_tokens);
        let key = leaf_key(&tokens, self.config.prefix_tokens);
        let leaf = self.leaves.entry(key).or_default();
        let best = best_match(&self.clusters, leaf, &tokens);
        match best {
            Some((id, sim)) if sim >= self.config.similarity => {
                let cluster = &mut self.clusters[id];
                merge(&mut cluster.tokens, &tokens);
                cluster.size += 1;
                id
            }
            best if self.clusters.len() >= self.config.max_clusters => {
                // Full: stay bounded. Join the nearest cluster of the leaf if
                // there is one; else share the last id (an overflow bucket).
                let id = best.map_or(self.clusters.len() - 1, |(id, _)| id);
                self.clusters[id].size += 1;
                id
            }
            _ => {
                let id = self.clusters.len();
                self.clusters.push(Cluster { tokens, size: 1 });
                leaf.push(id);
                id
            }
        }
    }
}

/// The cluster of `leaf` most similar to `tokens`, with its similarity: the
/// fraction of the line's *known* tokens (those pre-masking left) that the
/// template has at the same position. Pre-masked tokens are left out of the
/// denominator: they are variables already, and counting them would keep a
/// line with many numbers from ever joining its template. On a tie the template with more wildcards wins (it is the more general one,
/// as in Drain).
fn best_match(clusters: &[Cluster], leaf: &[usize], tokens: &[String]) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64, usize)> = None;
    for &id in leaf {
        let template = &clusters[id].tokens;
        let (same, wild) = similarity_counts(template, tokens);
        let known = tokens.iter().filter(|t| *t != WILDCARD).count();
        let sim = if known == 0 {
            1.0
        } else {
            same as f64 / known as f64
        };
        let better = match best {
            None => true,
            Some((_, s, w)) => sim > s || (sim == s && wild > w),
        };
        if better {
            best = Some((id, sim, wild));
        }
    }
    best.map(|(id, sim, _)| (id, sim))
}

/// Positions where `template` equals `tokens` on a known word (a wildcard on
/// either side is not an equality: it says the position varies), and the
/// template's wildcards.
fn similarity_counts(template: &[String], tokens: &[String]) -> (usize, usize) {
    let mut same = 0;
    let mut wild = 0;
    for (t, l) in template.iter().zip(tokens) {
        if t == WILDCARD {
            wild += 1;
        } else if t == l && l != WILDCARD {
            same += 1;
        }
    }
    (same, wild)
}

/// Widens `template` so that it also matches `tokens`.
fn merge(template: &mut [String], tokens: &[String]) {
    for (t, l) in template.iter_mut().zip(tokens) {
        if t != l && t != WILDCARD {
            *t = WILDCARD.to_string();
        }
    }
}

/// Routing key: token count and the first `prefix` tokens, where a masked
/// token routes as the wildcard (so lines starting with a variable do not
/// each open a branch of their own).
fn leaf_key(tokens: &[String], prefix: usize) -> LeafKey {
    (tokens.len(), tokens.iter().take(prefix).cloned().collect())
}

/// Splits `line` on whitespace and pre-masks each token (see [`mask_token`]).
pub fn tokenize(line: &str, max_tokens: usize) -> Vec<String> {
    line.split_whitespace()
        .take(max_tokens)
        .map(mask_token)
        .collect()
}

/// Pre-masks one token: variables become [`WILDCARD`].
///
/// A token holding an ASCII digit is a variable: counts, sizes, ports, ids,
/// addresses, block ids, hex, timestamps. So is a path (`/a/b`, `C:\x`) and
/// a URL. A `key=value` token keeps its key and masks the value by the same
/// rule; so does `key:value` when the key is a word, which keeps log fields
/// such as `uid=0` apart from `euid=0`.
pub fn mask_token(token: &str) -> String {
    for sep in ['=', ':'] {
        if let Some((key, value)) = token.split_once(sep) {
            if !key.is_empty() && !value.is_empty() && is_word(key) {
                let masked = mask_atom(value);
                return format!("{key}{sep}{masked}");
            }
        }
    }
    mask_atom(token).to_string()
}

/// Masks a token with no key: see [`mask_token`].
fn mask_atom(token: &str) -> &str {
    if is_variable(token) { WILDCARD } else { token }
}

/// Whether a keyless token is a variable.
fn is_variable(token: &str) -> bool {
    token.bytes().any(|b| b.is_ascii_digit())
        || token.starts_with('/')
        || token.contains("://")
        || token.contains(":\\")
}

/// A field name: letters, `_`, `-` and `.` only (no digits, no slashes).
fn is_word(key: &str) -> bool {
    key.bytes()
        .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_numbers_paths_and_values() {
        assert_eq!(mask_token("blk_-695229"), WILDCARD);
        assert_eq!(mask_token("10.251.73.220:50010"), WILDCARD);
        assert_eq!(mask_token("/etc/httpd/conf"), WILDCARD);
        assert_eq!(mask_token("uid=0"), "uid=<*>");
        assert_eq!(mask_token("ruser="), "ruser=");
        assert_eq!(mask_token("terminating"), "terminating");
    }

    #[test]
    fn lines_of_one_template_share_a_cluster_and_others_do_not() {
        let mut miner = TemplateMiner::new(TemplateConfig::default());
        let a = miner.add("Connection closed by alice port 22");
        let b = miner.add("Connection closed by bob port 2222");
        let c = miner.add("Accepted password for alice from 10.0.0.1");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            miner.clusters()[a].template(),
            "Connection closed by <*> port <*>"
        );
    }

    #[test]
    fn dissimilar_lines_of_equal_length_stay_apart() {
        let mut miner = TemplateMiner::new(TemplateConfig::default());
        let a = miner.add("disk full on sda");
        let b = miner.add("disk quota exceeded everywhere");
        assert_ne!(a, b);
    }

    proptest::proptest! {
        /// Templates only widen: every line a cluster took, pre-masked, still
        /// matches the cluster's final template (equal or wildcard at every
        /// position, same token count), and ids are dense.
        #[test]
        fn every_template_matches_all_its_lines(
            lines in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![
                        proptest::strategy::Just("open".to_string()),
                        proptest::strategy::Just("close".to_string()),
                        proptest::strategy::Just("user".to_string()),
                        proptest::strategy::Just("uid=7".to_string()),
                        "[a-c]{1,2}",
                        "[0-9]{1,3}",
                    ],
                    0..6,
                ),
                0..60,
            )
        ) {
            let mut miner = TemplateMiner::new(TemplateConfig::default());
            let mut assigned = Vec::new();
            for words in &lines {
                let line = words.join(" ");
                let id = miner.add(&line);
                proptest::prop_assert!(id < miner.clusters().len());
                assigned.push((id, line));
            }
            for (id, line) in &assigned {
                let template = &miner.clusters()[*id].tokens;
                let tokens = tokenize(line, TemplateConfig::default().max_tokens);
                proptest::prop_assert_eq!(template.len(), tokens.len());
                for (t, l) in template.iter().zip(&tokens) {
                    proptest::prop_assert!(t == WILDCARD || t == l, "{t} vs {l} in {line}");
                }
            }
            let total: u64 = miner.clusters().iter().map(|c| c.size).sum();
            proptest::prop_assert_eq!(total, lines.len() as u64);
        }
    }

    #[test]
    fn cluster_count_is_bounded() {
        let config = TemplateConfig {
            max_clusters: 3,
            ..TemplateConfig::default()
        };
        let mut miner = TemplateMiner::new(config);
        for word in ["alpha", "beta", "gamma", "delta", "epsilon"] {
            let id = miner.add(&format!("{word} {word} {word}"));
            assert!(id < 3);
        }
        assert_eq!(miner.clusters().len(), 3);
    }
}
