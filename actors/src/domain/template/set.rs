//! The learned templates, shared by every thread that signs, and the record
//! of what the store has not saved yet.
//!
//! Signing runs on request threads, so the set is behind locks: leaves are
//! spread over [`SHARDS`] read-write locks by the hash of their key. Most
//! lines match a template as it is (a read lock, nothing learned); only a
//! line that widens or founds a template takes its shard's write lock.
//!
//! Every change marks its leaf unsaved. The store's single writer takes the
//! unsaved leaves ([`TemplateSet::unsaved`]) into each group commit, before
//! the group's events, and reports them saved once the commit's flush is
//! done ([`TemplateSet::saved`]). A line is signed before its event enters
//! the writer's queue, so whatever template it used is in that commit or an
//! earlier one: an acknowledged event's template is on disk with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use xxhash_rust::xxh3::xxh3_64;

use super::TemplateConfig;
use super::leaf::{Leaf, Placement, encode_key, key_token_count, template_bytes};
use super::token::{Slot, Token, classify, tokenize};

/// Locks the leaves are spread over: enough that request threads rarely
/// wait on each other, few enough to cost nothing when idle.
pub const SHARDS: usize = 16;

/// A template's stable id: its leaf (the hash of the leaf's encoded key) and
/// its ordinal in the leaf. Stored templates keep both across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateId {
    pub leaf: u64,
    pub ordinal: u32,
}

/// A leaf as the store keeps it: its encoded key and its templates in
/// ordinal order, each as its tokens' text (`<*>` for a wildcard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedLeaf {
    pub key: Vec<u8>,
    pub templates: Vec<Vec<String>>,
    /// The leaf's version when taken; not stored.
    pub version: u64,
}

/// What [`TemplateSet::restore`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    pub leaves: usize,
    pub templates: usize,
    /// Leaves left out because a template did not fit the key's token count
    /// (a damaged record): their lines found new templates.
    pub skipped: usize,
}

/// The learned templates. See the module documentation.
pub struct TemplateSet {
    config: TemplateConfig,
    shards: Box<[RwLock<Shard>]>,
    templates: AtomicUsize,
    bytes: AtomicUsize,
    fallbacks: AtomicU64,
}

#[derive(Default)]
struct Shard {
    /// Leaves by the hash of their key; leaves of one hash are told apart
    /// by the key itself.
    leaves: HashMap<u64, Vec<Leaf>>,
    /// `(hash, index)` of the leaves with unsaved changes.
    dirty: Vec<(u64, usize)>,
}

impl Shard {
    fn find(&self, hash: u64, key: &[u8]) -> Option<&Leaf> {
        self.leaves
            .get(&hash)?
            .iter()
            .find(|leaf| leaf.key() == key)
    }

    fn position(&self, hash: u64, key: &[u8]) -> Option<usize> {
        self.leaves
            .get(&hash)?
            .iter()
            .position(|leaf| leaf.key() == key)
    }

    fn leaf_mut(&mut self, hash: u64, index: usize) -> Option<&mut Leaf> {
        self.leaves.get_mut(&hash)?.get_mut(index)
    }
}

impl std::fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateSet")
            .field("config", &self.config)
            .field("templates", &self.len())
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl TemplateSet {
    /// An empty set.
    pub fn new(config: TemplateConfig) -> Self {
        Self {
            config,
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            templates: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// The set the store saved. Every stored leaf is kept, even past the
    /// bounds (lowered since): a template's id must never move.
    pub fn restore(config: TemplateConfig, saved: Vec<SavedLeaf>) -> (Self, Restored) {
        let set = Self::new(config);
        let mut restored = Restored::default();
        for leaf in saved {
            let Some(templates) = read_templates(&leaf) else {
                restored.skipped += 1;
                continue;
            };
            let hash = xxh3_64(&leaf.key);
            let bytes: usize = leaf.key.len()
                + templates
                    .iter()
                    .flat_map(|t| t.iter())
                    .map(|slot| std::mem::size_of::<Slot>() + slot.heap_bytes())
                    .sum::<usize>();
            restored.leaves += 1;
            restored.templates += templates.len();
            set.templates.fetch_add(templates.len(), Ordering::Relaxed);
            set.bytes.fetch_add(bytes, Ordering::Relaxed);
            let mut shard = set.write(hash);
            let bucket = shard.leaves.entry(hash).or_default();
            if !bucket
                .iter()
                .any(|known| known.key() == leaf.key.as_slice())
            {
                bucket.push(Leaf::restored(&leaf.key, templates));
            }
        }
        (set, restored)
    }

    /// The template of `masked` (a message as the signer's masks left it),
    /// learning from it: the template may widen, or a new one be founded.
    /// `None` when the line needs a new template and the bounds
    /// ([`TemplateConfig::max_templates`], [`TemplateConfig::max_bytes`],
    /// [`TemplateConfig::max_leaf_templates`]) leave no room: the caller
    /// then groups it without a template.
    pub fn place(&self, masked: &str) -> Option<TemplateId> {
        let mut tokens = Vec::with_capacity(24);
        tokenize(masked, self.config.max_tokens, &mut tokens);
        let mut key = Vec::with_capacity(48);
        encode_key(&tokens, self.config.prefix_tokens, &mut key);
        let hash = xxh3_64(&key);
        let id = |ordinal: usize| TemplateId {
            leaf: hash,
            ordinal: u32::try_from(ordinal).unwrap_or(u32::MAX),
        };
        if let Some(leaf) = self.read(hash).find(hash, &key) {
            if let Placement::Matches(ordinal) = leaf.place(&tokens, self.config.similarity) {
                return Some(id(ordinal));
            }
        }
        self.learn(hash, &key, &tokens).map(id)
    }

    /// [`TemplateSet::place`] for a line no template matches as it is:
    /// decided again under the write lock (another thread may have changed
    /// the leaf in between), then widens or founds a template.
    fn learn(&self, hash: u64, key: &[u8], tokens: &[Token<'_>]) -> Option<usize> {
        let mut shard = self.write(hash);
        let shard = &mut *shard;
        let Some(index) = shard.position(hash, key) else {
            return self.found_leaf(shard, hash, key, tokens);
        };
        let leaf = shard.leaf_mut(hash, index)?;
        let was_dirty = leaf.is_dirty();
        let ordinal = match leaf.place(tokens, self.config.similarity) {
            Placement::Matches(ordinal) => return Some(ordinal),
            Placement::Widens(ordinal) => {
                let freed = leaf.widen(ordinal, tokens);
                self.bytes.fetch_sub(freed, Ordering::Relaxed);
                ordinal
            }
            Placement::Founds => {
                if !self.reserve(template_bytes(tokens), leaf.len()) {
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                leaf.found(tokens)
            }
        };
        if !was_dirty {
            shard.dirty.push((hash, index));
        }
        Some(ordinal)
    }

    /// A new leaf under `key`, its first template made of `tokens`.
    fn found_leaf(
        &self,
        shard: &mut Shard,
        hash: u64,
        key: &[u8],
        tokens: &[Token<'_>],
    ) -> Option<usize> {
        if !self.reserve(template_bytes(tokens) + key.len(), 0) {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut leaf = Leaf::new(key);
        let ordinal = leaf.found(tokens);
        let bucket = shard.leaves.entry(hash).or_default();
        bucket.push(leaf);
        shard.dirty.push((hash, bucket.len() - 1));
        Some(ordinal)
    }

    /// Claims room for a template of `bytes` in a leaf of `leaf_len`.
    fn reserve(&self, bytes: usize, leaf_len: usize) -> bool {
        if leaf_len >= self.config.max_leaf_templates {
            return false;
        }
        let max = self.config.max_templates;
        if self
            .templates
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            return false;
        }
        let max = self.config.max_bytes;
        let fits = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                b.checked_add(bytes).filter(|total| *total <= max)
            })
            .is_ok();
        if !fits {
            self.templates.fetch_sub(1, Ordering::AcqRel);
        }
        fits
    }

    /// The leaves changed since they were last saved, as they are now.
    pub fn unsaved(&self) -> Vec<SavedLeaf> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
            for &(hash, index) in &shard.dirty {
                let Some(leaf) = shard.leaves.get(&hash).and_then(|b| b.get(index)) else {
                    continue;
                };
                out.push(SavedLeaf {
                    key: leaf.key().to_vec(),
                    templates: leaf
                        .templates()
                        .iter()
                        .map(|t| t.iter().map(ToString::to_string).collect())
                        .collect(),
                    version: leaf.version(),
                });
            }
        }
        out
    }

    /// Records that `leaves` (from [`TemplateSet::unsaved`]) are on disk as
    /// of their version; a leaf changed since stays unsaved.
    pub fn saved(&self, leaves: &[SavedLeaf]) {
        for saved in leaves {
            let hash = xxh3_64(&saved.key);
            let mut shard = self.write(hash);
            let shard = &mut *shard;
            if let Some(index) = shard.position(hash, &saved.key) {
                if let Some(leaf) = shard.leaf_mut(hash, index) {
                    leaf.mark_saved(saved.version);
                }
            }
            let leaves = &shard.leaves;
            shard.dirty.retain(|&(hash, index)| {
                leaves
                    .get(&hash)
                    .and_then(|b| b.get(index))
                    .is_some_and(Leaf::is_dirty)
            });
        }
    }

    /// The template `id` names, as text, if it exists.
    pub fn template(&self, id: TemplateId) -> Option<String> {
        let shard = self.read(id.leaf);
        let bucket = shard.leaves.get(&id.leaf)?;
        let ordinal = usize::try_from(id.ordinal).ok()?;
        bucket.iter().find_map(|leaf| {
            let template = leaf.templates().get(ordinal)?;
            let words: Vec<String> = template.iter().map(ToString::to_string).collect();
            Some(words.join(" "))
        })
    }

    /// Templates learned (and restored).
    pub fn len(&self) -> usize {
        self.templates.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory the templates take, roughly (their slots, text and keys).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Lines that found no room for a new template since the start.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &TemplateConfig {
        &self.config
    }

    /// A panic cannot leave a leaf half changed (each change is one
    /// assignment or push): poisoning is ignored.
    fn read(&self, hash: u64) -> RwLockReadGuard<'_, Shard> {
        self.shards[shard_of(hash)]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, hash: u64) -> RwLockWriteGuard<'_, Shard> {
        self.shards[shard_of(hash)]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn shard_of(hash: u64) -> usize {
    (hash % SHARDS as u64) as usize
}

/// A saved leaf's templates as slots, if each has the key's token count.
fn read_templates(leaf: &SavedLeaf) -> Option<Vec<Box<[Slot]>>> {
    let count = key_token_count(&leaf.key)?;
    leaf.templates
        .iter()
        .map(|words| {
            let slots: Box<[Slot]> = words
                .iter()
                .map(|word| Slot::from(&classify(word)))
                .collect();
            (slots.len() == count).then_some(slots)
        })
        .collect()
}
