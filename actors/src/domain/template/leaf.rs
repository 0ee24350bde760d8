//! A leaf of the prefix tree: the templates of lines with one token count and
//! one routing prefix, and how a line finds, widens or founds its template.
//!
//! A template's id is its leaf and its position in the leaf (an ordinal
//! counted from 0 in order of creation). Templates are never removed or
//! reordered, and widening changes a template in place, so an id once given
//! keeps naming the same template.

use super::token::{Slot, Token};

/// A leaf's key, encoded: the token count, then each routing token as a
/// tag byte (0 variable, 1 field, 2 word) and its length-prefixed text. The
/// same bytes key the leaf in the store and, hashed, in memory and in
/// signature ids: the encoding never changes.
pub fn encode_key(tokens: &[Token<'_>], prefix_tokens: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(tokens.len() as u32).to_be_bytes());
    for token in tokens.iter().take(prefix_tokens) {
        let (tag, text) = match *token {
            Token::Var => (0u8, ""),
            Token::Field(key) => (1, key),
            Token::Word(word) => (2, word),
        };
        out.push(tag);
        out.extend_from_slice(&(text.len() as u32).to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }
}

/// The token count an encoded key names, if it is well formed.
pub fn key_token_count(key: &[u8]) -> Option<usize> {
    let count = <[u8; 4]>::try_from(key.get(..4)?).ok()?;
    usize::try_from(u32::from_be_bytes(count)).ok()
}

/// Where a line belongs in its leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A template already matches every token (equal, or a wildcard there):
    /// nothing to learn.
    Matches(usize),
    /// The most similar template, similar enough: it widens to take the line.
    Widens(usize),
    /// No template is similar enough: the line founds one.
    Founds,
}

/// The templates of one leaf.
#[derive(Debug, Clone)]
pub struct Leaf {
    key: Box<[u8]>,
    templates: Vec<Box<[Slot]>>,
    /// Bumped by every change; the leaf is saved when `saved` catches up.
    version: u64,
    saved: u64,
}

impl Leaf {
    /// An empty leaf under the encoded `key`.
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: key.into(),
            templates: Vec::new(),
            version: 0,
            saved: 0,
        }
    }

    /// A leaf as stored: already saved.
    pub fn restored(key: &[u8], templates: Vec<Box<[Slot]>>) -> Self {
        Self {
            key: key.into(),
            templates,
            version: 1,
            saved: 1,
        }
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn templates(&self) -> &[Box<[Slot]>] {
        &self.templates
    }

    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether a change is not saved yet.
    pub fn is_dirty(&self) -> bool {
        self.saved != self.version
    }

    /// Records that the leaf as of `version` is saved.
    pub fn mark_saved(&mut self, version: u64) {
        self.saved = self.saved.max(version.min(self.version));
    }

    /// Where `tokens` belongs. A template that matches every token wins
    /// (the most specific one, then the oldest): so a line, once placed,
    /// keeps finding the template it widened, however wide that grew.
    /// Otherwise the template sharing the largest fraction of the line's
    /// *known* (not pre-masked) tokens at the same positions, if that
    /// reaches `similarity`; on a tie the more general one (more
    /// wildcards), as in Drain. Pre-masked tokens are left out of the
    /// fraction: they are variables already, and counting them would keep a
    /// line with many numbers from ever joining its template.
    pub fn place(&self, tokens: &[Token<'_>], similarity: f64) -> Placement {
        let known = tokens.iter().filter(|t| **t != Token::Var).count();
        let mut full: Option<(usize, usize)> = None;
        let mut near: Option<(usize, usize, usize)> = None;
        for (index, template) in self.templates.iter().enumerate() {
            let (same, wild, matches) = compare(template, tokens);
            if matches && full.is_none_or(|(_, s)| same > s) {
                full = Some((index, same));
            }
            if near.is_none_or(|(_, s, w)| same > s || (same == s && wild > w)) {
                near = Some((index, same, wild));
            }
        }
        if let Some((index, _)) = full {
            return Placement::Matches(index);
        }
        match near {
            Some((index, same, _)) if known == 0 || same as f64 / known as f64 >= similarity => {
                Placement::Widens(index)
            }
            _ => Placement::Founds,
        }
    }

    /// Widens template `index` to take `tokens`; returns the heap bytes freed.
    pub fn widen(&mut self, index: usize, tokens: &[Token<'_>]) -> usize {
        let Some(template) = self.templates.get_mut(index) else {
            return 0;
        };
        let mut freed = 0;
        for (slot, token) in template.iter_mut().zip(tokens) {
            if *slot != Slot::Var && !slot.same(token) {
                freed += slot.heap_bytes();
                *slot = Slot::Var;
            }
        }
        self.version += 1;
        freed
    }

    /// Adds `tokens` as a new template; returns its ordinal.
    pub fn found(&mut self, tokens: &[Token<'_>]) -> usize {
        self.templates.push(tokens.iter().map(Slot::from).collect());
        self.version += 1;
        self.templates.len() - 1
    }
}

/// Positions where `template` has the line's known token, the template's
/// wildcards, and whether the template matches the whole line.
fn compare(template: &[Slot], tokens: &[Token<'_>]) -> (usize, usize, bool) {
    let (mut same, mut wild, mut matches) = (0, 0, true);
    for (slot, token) in template.iter().zip(tokens) {
        if *slot == Slot::Var {
            wild += 1;
        } else if slot.same(token) {
            same += 1;
        } else {
            matches = false;
        }
    }
    (same, wild, matches)
}

/// Memory a template of these tokens takes, roughly: its slots and their text.
pub fn template_bytes(tokens: &[Token<'_>]) -> usize {
    tokens
        .iter()
        .map(|token| std::mem::size_of::<Slot>() + Slot::from(token).heap_bytes())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::super::token::tokenize;
    use super::*;

    fn tokens(line: &str) -> Vec<Token<'_>> {
        let mut out = Vec::new();
        tokenize(line, 64, &mut out);
        out
    }

    fn learn(leaf: &mut Leaf, line: &str) -> usize {
        let tokens = tokens(line);
        match leaf.place(&tokens, 0.5) {
            Placement::Matches(index) => index,
            Placement::Widens(index) => {
                leaf.widen(index, &tokens);
                index
            }
            Placement::Founds => leaf.found(&tokens),
        }
    }

    fn text(leaf: &Leaf, index: usize) -> String {
        let slots: Vec<String> = leaf.templates()[index]
            .iter()
            .map(ToString::to_string)
            .collect();
        slots.join(" ")
    }

    #[test]
    fn similar_lines_widen_one_template_and_others_found_their_own() {
        let mut leaf = Leaf::new(b"k");
        let a = learn(&mut leaf, "Connection closed by alice port <n>");
        let b = learn(&mut leaf, "Connection closed by bob port <n>");
        let c = learn(&mut leaf, "Connection reset after many retries today");
        assert_eq!((a, b, c), (0, 0, 1));
        assert_eq!(text(&leaf, 0), "Connection closed by <*> port <*>");
        assert!(leaf.is_dirty());
        leaf.mark_saved(leaf.version());
        assert!(!leaf.is_dirty());
        assert_eq!(learn(&mut leaf, "Connection closed by carol port <n>"), 0);
        assert!(!leaf.is_dirty(), "a matching line changes nothing");
    }

    #[test]
    fn a_placed_line_keeps_its_template_however_wide_it_grows() {
        let mut leaf = Leaf::new(b"k");
        let first = learn(&mut leaf, "job a b c d failed");
        // Two known words, both in the template: it widens at the other four.
        assert_eq!(learn(&mut leaf, "job <n> <n> <n> <n> failed"), first);
        assert_eq!(text(&leaf, first), "job <*> <*> <*> <*> failed");
        // The first line now shares 2 of its 6 known words with its
        // template: by similarity alone it would found another one.
        assert_eq!(learn(&mut leaf, "job a b c d failed"), first);
        assert_eq!(leaf.len(), 1);
    }

    #[test]
    fn keys_encode_count_and_prefix_unambiguously() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        encode_key(&tokens("ab c d"), 2, &mut a);
        encode_key(&tokens("a bc d"), 2, &mut b);
        assert_ne!(a, b);
        encode_key(&tokens("ab c e"), 2, &mut b);
        assert_eq!(a, b, "only the prefix and the count route");
        assert_eq!(key_token_count(&a), Some(3));
        assert_eq!(key_token_count(b"x"), None);
    }
}
