//! Grouping: turns an [`Event`] into a [`Signature`], the key under which
//! occurrences of one bug are counted together.
//!
//! Three rules, first match wins (see [`Signer::sign`]):
//! 1. an explicit fingerprint from the sender;
//! 2. the exception type plus the innermost in-app frames, normalized so that
//!    what changes between occurrences of one bug (line numbers after a
//!    redeploy, bundle hashes, machine-specific path prefixes, recursion
//!    depth, synthetic closure ids) does not split its group;
//! 3. the exception type plus the message's learned log template (see
//!    [`crate::domain::template`]): the message with its variable parts
//!    masked (ids, emails, addresses, times, quoted values, ...), then
//!    placed in the template set, which also learns which words vary; plus
//!    the logger's call site when the sender named one. Without a template
//!    (turned off, or the set is full) the masked message itself.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard};

use regex::{Captures, Regex, Replacer};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::domain::event::Event;
use crate::domain::stack::{
    self, FrameRef, StackRef, any_flagged, bytes_between, bytes_equal, find_byte, find_digit,
    find_equal, is_ascii_space, is_digit,
};
use crate::domain::template::{TemplateConfig, TemplateId, TemplateSet};

/// How events are grouped. Data, so operators can tune it from config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SignatureConfig {
    /// Ordered masks applied to messages before they are hashed; data, so
    /// operators can add their own. Each runs on the output of the previous
    /// one. Default: [`default_masks`].
    pub masks: Vec<MaskRule>,
    /// Titles are for humans; long messages are cut to this many characters.
    pub max_title_chars: usize,
    /// In-app frames used, innermost first: deep enough to tell call sites
    /// apart, shallow enough that a new caller far up the stack does not
    /// start a new group.
    pub max_frames: usize,
    /// Message-only events are grouped by learned log templates (on), or by
    /// their masked message alone (off). Turning it either way changes the
    /// ids of message-only groups once.
    pub templates: bool,
    /// Most templates learned; past it, new kinds of line are grouped by
    /// their masked message. Real services log hundreds to a few thousand
    /// kinds of line; the bound is for hostile or broken senders.
    pub max_templates: usize,
    /// Most memory the templates take, in MiB (typically under 1 KiB each).
    pub template_memory_mb: usize,
}

impl Default for SignatureConfig {
    fn default() -> Self {
        let templates = TemplateConfig::default();
        Self {
            masks: default_masks(),
            max_title_chars: 200,
            max_frames: 10,
            templates: true,
            max_templates: templates.max_templates,
            template_memory_mb: templates.max_bytes >> 20,
        }
    }
}

impl SignatureConfig {
    /// The template miner's configuration, or `None` when it is off.
    pub fn template_config(&self) -> Option<TemplateConfig> {
        self.templates.then(|| TemplateConfig {
            max_templates: self.max_templates,
            max_bytes: self.template_memory_mb.saturating_mul(1 << 20),
            ..TemplateConfig::default()
        })
    }
}

/// One message mask: every match of `pattern` (a `regex` crate regex) is
/// replaced by `replacement`, which may refer to capture groups (`${1}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MaskRule {
    pub name: String,
    pub pattern: String,
    pub replacement: String,
}

/// A [`SignatureConfig`] that cannot be compiled.
#[derive(Debug)]
pub enum SignatureConfigError {
    /// A mask's pattern is not a valid regex.
    InvalidMask { name: String, error: regex::Error },
    /// Every pattern compiles alone but together they exceed the regex size
    /// limit of the prefilter. No longer produced: masks are not combined
    /// any more (kept so matching code keeps compiling).
    MaskSetTooLarge(regex::Error),
}

impl fmt::Display for SignatureConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidMask { name, error } => {
                write!(f, "signature mask `{name}` has an invalid pattern: {error}")
            }
            Self::MaskSetTooLarge(error) => {
                write!(f, "signature masks are too large to combine: {error}")
            }
        }
    }
}

impl std::error::Error for SignatureConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidMask { error, .. } | Self::MaskSetTooLarge(error) => Some(error),
        }
    }
}

/// Which rule produced a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureBasis {
    Fingerprint,
    Frames,
    Message,
}

/// The grouping key of an event and what humans see of its group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// 16 lowercase hex chars: xxh3_64 of the grouping components, stable
    /// across runs, versions of Rust and platforms (never `DefaultHasher`).
    pub id: String,
    /// `Type: masked message`, at most `max_title_chars` chars.
    pub title: String,
    /// The crashing in-app frame as `module_or_file in function`, or the
    /// logger's call site for message-based groups.
    pub culprit: Option<String>,
    pub basis: SignatureBasis,
}

/// Computes signatures. Compiles the masks once; share one per config (it is
/// `Send + Sync`, typically behind an `Arc`).
///
/// Two small bounded caches make repeated bugs cheap (events come from few
/// distinct bugs, with ids varying inside their messages):
/// - normalized frames, by the exact frame fields normalization reads (the
///   whole key is compared on a hit, so this changes no result);
/// - titles of groups whose id does not depend on the message (frames and
///   fingerprint rules), by signature id: such a group's title is the
///   masked message of the first event of it this signer saw (since the
///   cache was last cleared), which is also the title the store keeps for
///   a group; its message is then not masked at all. So two signers may
///   give such an event different titles, never a different grouping.
///   Message-based titles are the event's own masked message.
///
/// Message-only events are grouped by the templates the signer has learned
/// (a shared [`TemplateSet`]), so their ids depend on what it learned
/// before: two signers agree when they learned the same lines in the same
/// order, or restored the same saved templates.
pub struct Signer {
    masks: Vec<CompiledMask>,
    max_title_chars: usize,
    max_frames: usize,
    titles: TitleCache,
    frames: FramesCache,
    templates: Option<Arc<TemplateSet>>,
}

/// A clone compiles nothing again, starts with empty caches and shares the
/// templates: it groups exactly like the original.
impl Clone for Signer {
    fn clone(&self) -> Self {
        Self {
            masks: self.masks.clone(),
            max_title_chars: self.max_title_chars,
            max_frames: self.max_frames,
            titles: TitleCache::default(),
            frames: FramesCache::default(),
            templates: self.templates.clone(),
        }
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("masks", &self.masks)
            .field("max_title_chars", &self.max_title_chars)
            .field("max_frames", &self.max_frames)
            .field("cached_titles", &self.titles.len())
            .field("cached_frames", &self.frames.len())
            .field("templates", &self.templates)
            .finish()
    }
}

#[derive(Debug, Clone)]
struct CompiledMask {
    regex: Regex,
    template: Template,
    /// Set when the pattern is one of [`default_masks`]'s: a cheap test that
    /// rules matches out, and a faster way to find the matches.
    builtin: Option<Builtin>,
    search: Search,
    /// `^(?:pattern)`, for [`Search::Anchored`].
    anchored: Option<Regex>,
    /// The byte classes of the replacement's literal text.
    literal_classes: ByteClasses,
}

impl CompiledMask {
    fn new(rule: &MaskRule) -> Result<Self, SignatureConfigError> {
        // The regex crate's default lazy-DFA cache (2 MiB per regex and
        // thread) is enough: the built-in masks run their regexes rarely,
        // and anchored on a few bytes (a larger cache was needed by the
        // combined mask set this replaced; it made no measurable difference
        // any more, and only raised the memory bound).
        let build = |pattern: &str| {
            Regex::new(pattern).map_err(|error| SignatureConfigError::InvalidMask {
                name: rule.name.clone(),
                error,
            })
        };
        let regex = build(&rule.pattern)?;
        let template = Template::parse(&rule.replacement, &regex);
        let builtin = Builtin::for_pattern(&rule.pattern);
        let search = match builtin.map(Builtin::search) {
            // Anchored matches are found without groups.
            Some(Search::Anchored(..)) if template.literal.is_none() => Search::Regex,
            Some(search) => search,
            None => Search::Regex,
        };
        let anchored = match search {
            Search::Anchored(..) => Some(build(&format!("^(?:{})", rule.pattern))?),
            _ => None,
        };
        let literal_classes = template
            .pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Literal(literal) => Some(ByteClasses::of(literal)),
                Piece::Group(_) => None,
            })
            .fold(ByteClasses::default(), ByteClasses::union);
        Ok(Self {
            regex,
            template,
            builtin,
            search,
            anchored,
            literal_classes,
        })
    }

    /// Writes `text` with every match replaced to `out` (cleared first);
    /// false, leaving `out` unspecified, when nothing matched.
    /// `edits` gets the replacements, in order, when they are known.
    fn replace(&self, text: &str, out: &mut String, edits: &mut Edits) -> bool {
        edits.clear();
        match (self.search, &self.anchored) {
            (Search::Finder(find), _) => replace_found(text, find, &self.template, out, edits),
            (Search::Anchored(candidates, first), Some(anchored)) => replace_found(
                text,
                |text, from| find_anchored(anchored, candidates, first, text, from),
                &self.template,
                out,
                edits,
            ),
            _ => match self.regex.replace_all(text, Expand(&self.template)) {
                Cow::Owned(replaced) => {
                    *out = replaced;
                    true
                }
                Cow::Borrowed(_) => false,
            },
        }
    }

    /// Whether the mask matches `text`, whose bytes are of `classes` (or
    /// fewer).
    fn is_match(&self, classes: ByteClasses, text: &str) -> bool {
        self.may_match(classes, text)
            && match (self.search, &self.anchored) {
                (Search::Finder(find), _) => find(text, 0).is_some(),
                (Search::Anchored(candidates, first), Some(anchored)) => {
                    find_anchored(anchored, candidates, first, text, 0).is_some()
                }
                _ => self.regex.is_match(text),
            }
    }

    /// False only when the mask cannot match a text with bytes of `classes`
    /// only.
    fn may_match(&self, classes: ByteClasses, text: &str) -> bool {
        self.builtin
            .is_none_or(|builtin| builtin.may_match(classes, text))
    }
}

/// Messages longer than this are grouped by their head: bounds the masking
/// cost of hostile or giant messages (whole JSON bodies, HTML pages).
const MAX_MESSAGE_BYTES: usize = 4096;

/// What a fingerprint part says to expand to the default grouping, as in Sentry.
const DEFAULT_PLACEHOLDER: &str = "{{default}}";

/// Used when nothing names the exception's type.
const FALLBACK_TYPE: &str = "Error";

impl Signer {
    /// Compiles `cfg`; fails naming the first mask whose pattern is invalid.
    /// Templates (when on) start empty: see [`Signer::with_templates`].
    pub fn new(cfg: &SignatureConfig) -> Result<Self, SignatureConfigError> {
        let masks = cfg
            .masks
            .iter()
            .map(CompiledMask::new)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            masks,
            max_title_chars: cfg.max_title_chars,
            // Zero frames would group every crash of a type together.
            max_frames: cfg.max_frames.max(1),
            titles: TitleCache::default(),
            frames: FramesCache::default(),
            templates: cfg
                .template_config()
                .map(|config| Arc::new(TemplateSet::new(config))),
        })
    }

    /// This signer grouping message-only events by `templates` (restored
    /// from the store, shared with its writer), or by masked message alone
    /// when `None`.
    pub fn with_templates(mut self, templates: Option<Arc<TemplateSet>>) -> Self {
        self.templates = templates;
        self
    }

    /// The templates message-only events are grouped by, if on.
    pub fn templates(&self) -> Option<&Arc<TemplateSet>> {
        self.templates.as_ref()
    }

    /// Normalizes a message for grouping: bounded, whitespace collapsed, then
    /// masked: every mask applied in order, each to the previous one's
    /// output, with one exception. Ids depend on the exact result, which
    /// the former implementation defined as: apply, in order, the masks that
    /// match the collapsed message; if that changed it and a mask that did
    /// not match the message matches the result, every mask in order instead.
    /// The two differ only when an earlier mask's output creates a match for
    /// a mask that did not match the message (`x[::1]` gains a word
    /// boundary before `[` once `x` becomes `<id>`) and a later mask destroys
    /// that match again: then the mask with the created match is skipped.
    ///
    /// Speed comes from skipping masks that cannot match: a cheap test rules
    /// most masks out (one pass classifies the text's bytes: a message
    /// without digits cannot match the number, id, hex, address or time
    /// masks, one without `@` no email), the most common masks run a
    /// hand-written matcher equal to their regex, and the other built-in
    /// ones start their regex where a match can start. Operators' own masks
    /// always run their regex over the whole text.
    pub fn mask(&self, message: &str) -> String {
        let collapsed = || collapse_whitespace(bounded(message));
        let mut text = collapsed();
        if text.is_empty() {
            return text;
        }
        let message_classes = ByteClasses::of(&text);
        let mut classes = message_classes;
        let (mut spare, mut edits, mut written) =
            (String::new(), Edits::default(), Written::default());
        // The collapsed message, made again if a check needs it (rare).
        let mut original: Option<String> = None;
        let mut created = false;
        for mask in &self.masks {
            if !mask.may_match(classes, &text) || !mask.replace(&text, &mut spare, &mut edits) {
                continue;
            }
            // A match away from what earlier masks wrote is one of the
            // message; else ask the message.
            if !created {
                let of_message = edits.first().is_some_and(|first| !written.touches(&first));
                created = !of_message
                    && !mask.is_match(message_classes, original.get_or_insert_with(collapsed));
            }
            written.update(&edits);
            std::mem::swap(&mut text, &mut spare);
            // A replacement removes bytes, copies bytes of the text (groups)
            // and adds the template's literals: the classes of the result
            // are within these.
            classes = classes.union(mask.literal_classes);
        }
        if !created {
            // The masks that ran are the ones that match the message, and
            // the result is the same either way.
            return text;
        }
        let original = original.unwrap_or_else(collapsed);
        self.mask_matching_masks_first(original, message_classes, text)
    }

    /// The former definition, for when a match was created: the masks that
    /// match `original`, in order; unless a mask that did not matches the
    /// result, then `in_order` (every mask in order).
    fn mask_matching_masks_first(
        &self,
        original: String,
        original_classes: ByteClasses,
        in_order: String,
    ) -> String {
        let matching: Vec<bool> = self
            .masks
            .iter()
            .map(|mask| mask.is_match(original_classes, &original))
            .collect();
        let (mut text, mut spare, mut changed) = (original.clone(), String::new(), false);
        let mut edits = Edits::default();
        for (mask, _) in self
            .masks
            .iter()
            .zip(&matching)
            .filter(|(_, matches)| **matches)
        {
            if mask.replace(&text, &mut spare, &mut edits) {
                std::mem::swap(&mut text, &mut spare);
                changed = true;
            }
        }
        if !changed {
            return original;
        }
        let classes = ByteClasses::of(&text);
        let missed = self
            .masks
            .iter()
            .zip(&matching)
            .any(|(mask, matches)| !matches && mask.is_match(classes, &text));
        if missed { in_order } else { text }
    }

    /// The signature of `event`. See the module docs for the rules.
    pub fn sign(&self, event: &Event) -> Signature {
        with_scratch(|scratch| self.sign_with(event, scratch))
    }

    fn sign_with(&self, event: &Event, scratch: &mut Scratch) -> Signature {
        let parsed = parse_stack_if_needed(event);
        let key = &mut scratch.frames_key;
        let frames = match (&event.frames[..], &parsed) {
            ([], Some(parsed)) => self.group_frames(parsed.frames.iter().copied(), key),
            (frames, _) => self.group_frames(frames.iter().map(FrameRef::from), key),
        };
        let raw_message = effective_message(event, parsed.as_ref());
        let exception_type = normalize_type(resolve_type(event, parsed.as_ref(), raw_message));
        let message = strip_type_prefix(raw_message, exception_type);
        let fingerprint = event
            .fingerprint
            .as_deref()
            .filter(|parts| !parts.is_empty());
        // The message is part of the id only under the message rule, alone
        // or expanded from a fingerprint's `{{ default }}`; else the title
        // comes from the cache, and the message is masked only on a miss.
        let id_has_message = frames.is_empty()
            && fingerprint.is_none_or(|parts| parts.iter().any(|p| is_default_placeholder(p)));
        let masked = id_has_message.then(|| self.mask(message));
        let template = masked
            .as_deref()
            .zip(self.templates.as_deref())
            .and_then(|(masked, templates)| templates.place(masked));
        let grouping = Grouping {
            exception_type,
            masked_message: masked.as_deref().unwrap_or(""),
            template,
            frames,
            logger_module: event
                .module
                .as_deref()
                .map(|m| written(|out| write_symbol(out, m))),
            logger_function: event
                .function
                .as_deref()
                .map(|f| written(|out| write_function(out, Some(f)))),
        };
        let mut components = Components(std::mem::take(&mut scratch.components));
        components.0.clear();
        let basis = match fingerprint {
            Some(parts) => {
                grouping.write_fingerprint(&mut components, parts);
                SignatureBasis::Fingerprint
            }
            None => grouping.write_default(&mut components),
        };
        let hash = components.hash();
        scratch.components = components.0;
        let culprit = grouping.culprit();
        let make_title =
            |masked: String| truncate_chars(title(exception_type, masked), self.max_title_chars);
        let title = match masked {
            Some(masked) => make_title(masked),
            None => self
                .titles
                .get_or_insert_with(hash, || make_title(self.mask(message))),
        };
        Signature {
            id: hex_id(hash),
            title,
            culprit,
            basis,
        }
    }
}

impl Signer {
    /// [`GroupFrames::collect`], through the cache.
    /// `key` is a buffer for the cache key.
    fn group_frames<'a>(
        &self,
        frames: impl ExactSizeIterator<Item = FrameRef<'a>> + Clone,
        key: &mut Vec<u8>,
    ) -> Arc<GroupFrames> {
        if frames.len() == 0 {
            static NONE: OnceLock<Arc<GroupFrames>> = OnceLock::new();
            let none = NONE.get_or_init(|| Arc::new(GroupFrames::collect([].into_iter(), 1)));
            return Arc::clone(none);
        }
        frames_key(frames.clone(), key);
        let digest = xxh3_64(key);
        if let Some(cached) = self.frames.get(digest, key) {
            return cached;
        }
        let collected = Arc::new(GroupFrames::collect(frames, self.max_frames));
        self.frames.insert(digest, key, Arc::clone(&collected));
        collected
    }
}

/// Buffers that every `sign` on a thread reuses (a few hundred bytes each:
/// allocating them per event was measurable).
#[derive(Default)]
struct Scratch {
    frames_key: Vec<u8>,
    components: Vec<u8>,
}

/// Buffers that grew past this (a giant stack) are not kept.
const SCRATCH_KEPT_BYTES: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `work` with this thread's [`Scratch`], or fresh buffers when it is
/// unavailable (in use, or the thread is exiting).
fn with_scratch<R>(work: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut work = Some(work);
    let shared = SCRATCH.try_with(|cell| {
        let mut scratch = cell.try_borrow_mut().ok()?;
        let result = work.take().map(|work| work(&mut scratch));
        let Scratch {
            frames_key,
            components,
        } = &mut *scratch;
        for buffer in [frames_key, components] {
            if buffer.capacity() > SCRATCH_KEPT_BYTES {
                *buffer = Vec::new();
            }
        }
        result
    });
    match (shared, work) {
        (Ok(Some(result)), _) => result,
        (_, Some(work)) => work(&mut Scratch::default()),
        (_, None) => unreachable!("the work ran, so it returned"),
    }
}

/// Everything normalization reads of the frames, unambiguously, into `key`
/// (cleared first): per frame `in_app`, then file, function and module,
/// each absent or length-prefixed.
fn frames_key<'a>(frames: impl Iterator<Item = FrameRef<'a>>, key: &mut Vec<u8>) {
    key.clear();
    for frame in frames {
        key.push(match frame.in_app {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        });
        for field in [frame.filename, frame.function, frame.module] {
            match field {
                None => key.push(0),
                Some(text) => {
                    key.push(1);
                    key.extend_from_slice(&(text.len() as u64).to_le_bytes());
                    key.extend_from_slice(text.as_bytes());
                }
            }
        }
    }
}

/// Normalized frames by [`frames_key`] (hashed; the key itself is kept and
/// compared, so a hash collision is a miss, never a wrong result). Bounded
/// in entries and bytes: cleared when full.
#[derive(Default)]
struct FramesCache {
    entries: RwLock<FramesEntries>,
}

#[derive(Default)]
struct FramesEntries {
    by_digest: HashMap<u64, (Box<[u8]>, Arc<GroupFrames>)>,
    bytes: usize,
}

const FRAMES_CACHE_ENTRIES: usize = 1024;
const FRAMES_CACHE_BYTES: usize = 4 << 20;

impl FramesCache {
    fn get(&self, digest: u64, key: &[u8]) -> Option<Arc<GroupFrames>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let (cached_key, frames) = entries.by_digest.get(&digest)?;
        (**cached_key == *key).then(|| Arc::clone(frames))
    }

    fn insert(&self, digest: u64, key: &[u8], frames: Arc<GroupFrames>) {
        let size = key.len() + frames.size();
        if size > FRAMES_CACHE_BYTES / 16 {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.by_digest.len() >= FRAMES_CACHE_ENTRIES
            || entries.bytes + size > FRAMES_CACHE_BYTES
        {
            entries.by_digest.clear();
            entries.bytes = 0;
        }
        let old = entries.by_digest.insert(digest, (Box::from(key), frames));
        if let Some((old_key, old_frames)) = old {
            entries.bytes -= old_key.len() + old_frames.size();
        }
        entries.bytes += size;
    }

    fn len(&self) -> usize {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.by_digest.len()
    }
}

/// Titles of the groups whose id does not depend on the message, by id.
/// Bounded: cleared when full, which only costs recomputing titles.
#[derive(Default)]
struct TitleCache {
    titles: RwLock<HashMap<u64, String>>,
}

/// Entries kept before the cache is cleared: far more than the distinct
/// bugs an application has at a time; a few hundred KiB at most.
const TITLE_CACHE_ENTRIES: usize = 4096;

impl TitleCache {
    /// The cached title of `id`, else `make()`'s, cached. When two threads
    /// race on a new id, both return the title stored first.
    fn get_or_insert_with(&self, id: u64, make: impl FnOnce() -> String) -> String {
        // A panic cannot leave the map inconsistent: ignore poisoning.
        if let Some(title) = self.read().get(&id) {
            return title.clone();
        }
        let title = make();
        let mut titles = self.titles.write().unwrap_or_else(PoisonError::into_inner);
        if titles.len() >= TITLE_CACHE_ENTRIES && !titles.contains_key(&id) {
            titles.clear();
        }
        titles.entry(id).or_insert(title).clone()
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<u64, String>> {
        self.titles.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.read().len()
    }
}

// ---------------------------------------------------------------------------
// Replacement templates
// ---------------------------------------------------------------------------

/// A mask's replacement, parsed once with the regex crate's syntax (`$1`,
/// `${1}`, `$name`, `${name}`, `$$`). The regex crate reparses a `&str`
/// replacement for every match, which cost more than the match itself.
#[derive(Debug, Clone)]
struct Template {
    pieces: Vec<Piece>,
    /// The whole replacement when it refers to no group: the regex crate then
    /// finds matches without resolving capture groups, which is much cheaper.
    literal: Option<String>,
}

#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Group(usize),
}

impl Template {
    fn parse(replacement: &str, regex: &Regex) -> Self {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = replacement;
        while let Some(dollar) = rest.find('$') {
            literal.push_str(&rest[..dollar]);
            let after = &rest[dollar + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                literal.push('$');
                rest = tail;
                continue;
            }
            match group_reference(after) {
                Some((name, tail)) => {
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    // A group that does not exist expands to nothing, as in
                    // the regex crate.
                    if let Some(index) = group_index(regex, name) {
                        pieces.push(Piece::Group(index));
                    }
                    rest = tail;
                }
                None => {
                    literal.push('$');
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        let literal = match pieces.as_slice() {
            [] => Some(String::new()),
            [Piece::Literal(text)] => Some(text.clone()),
            _ => None,
        };
        Self { pieces, literal }
    }
}

/// `{name}rest` or `name rest` (longest run of `[_0-9A-Za-z]`) after a `$`.
fn group_reference(after: &str) -> Option<(&str, &str)> {
    if let Some(braced) = after.strip_prefix('{') {
        // Any braced name counts, even an empty one (which names no group).
        let close = braced.find('}')?;
        return Some((&braced[..close], &braced[close + 1..]));
    }
    let end = after
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
        .unwrap_or(after.len());
    (end > 0).then(|| (&after[..end], &after[end..]))
}

fn group_index(regex: &Regex, name: &str) -> Option<usize> {
    match name.parse::<usize>() {
        Ok(index) => (index < regex.captures_len()).then_some(index),
        Err(_) => regex.capture_names().position(|n| n == Some(name)),
    }
}

/// Adapts a [`Template`] to the regex crate's replacement API.
struct Expand<'t>(&'t Template);

impl Replacer for Expand<'_> {
    fn replace_append(&mut self, caps: &Captures<'_>, dst: &mut String) {
        for piece in &self.0.pieces {
            match piece {
                Piece::Literal(text) => dst.push_str(text),
                Piece::Group(index) => dst.push_str(caps.get(*index).map_or("", |m| m.as_str())),
            }
        }
    }

    fn no_expansion(&mut self) -> Option<Cow<'_, str>> {
        self.0.literal.as_deref().map(Cow::Borrowed)
    }
}

// ---------------------------------------------------------------------------
// What the event says: type, message, frames
// ---------------------------------------------------------------------------

/// The raw stack is parsed only when it can add something: frames the sender
/// did not structure, or a type the sender did not name.
fn parse_stack_if_needed(event: &Event) -> Option<StackRef<'_>> {
    let needed = event.frames.is_empty() || event.exception_type.is_none();
    event
        .raw_stack
        .as_deref()
        .filter(|_| needed)
        .map(stack::parse_stack_ref)
}

fn effective_message<'a>(event: &'a Event, parsed: Option<&StackRef<'a>>) -> &'a str {
    if !event.message.trim().is_empty() {
        return &event.message;
    }
    parsed.and_then(|p| p.message).unwrap_or("")
}

/// The sender's type, else the stack's header, else a type the message
/// starts with, else `Error`.
fn resolve_type<'a>(event: &'a Event, parsed: Option<&StackRef<'a>>, message: &'a str) -> &'a str {
    event
        .exception_type
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .or_else(|| parsed.and_then(|p| p.exception_type))
        .or_else(|| infer_exception_type(message))
        .unwrap_or(FALLBACK_TYPE)
}

/// Python SDKs sometimes qualify built-in exceptions; the bare name is the
/// same exception.
fn normalize_type(exception_type: &str) -> &str {
    exception_type
        .strip_prefix("builtins.")
        .unwrap_or(exception_type)
}

/// The exception type a message starts with: `"Uncaught TypeError: x"` gives
/// `TypeError`, `"ValueError: bad"` gives `ValueError`. Only names that end
/// in `Error`, `Exception` or `Panic` (dotted JVM or Python names included)
/// count, so ordinary prose before a colon is never taken for a type.
pub fn infer_exception_type(message: &str) -> Option<&str> {
    let line = stack::strip_header_prefix(message.trim_start());
    let head = line
        .split_once(':')
        .map_or(line.trim_end(), |(head, _)| head);
    let last = head.rsplit('.').next().unwrap_or(head);
    let is_error_name = ["Error", "Exception", "Panic"]
        .iter()
        .any(|suffix| last.ends_with(suffix));
    (is_error_name && stack::is_type_name(head)).then_some(head)
}

/// Removes a leading `Type: ` that repeats the exception's type, so
/// `TypeError: x` sent with and without a separate type groups and reads the
/// same.
fn strip_type_prefix<'m>(message: &'m str, exception_type: &str) -> &'m str {
    let line = stack::strip_header_prefix(message.trim_start());
    match line.strip_prefix(exception_type) {
        Some("") => "",
        Some(rest) => rest.strip_prefix(':').map_or(message, str::trim_start),
        None => message,
    }
}

fn bounded(message: &str) -> &str {
    crate::domain::text::head_bytes(message, MAX_MESSAGE_BYTES)
}

/// Line breaks and indentation vary with how a message was formatted, not
/// with the bug.
fn collapse_whitespace(text: &str) -> String {
    if text.is_ascii() {
        return collapse_ascii_whitespace(text);
    }
    let mut out = String::with_capacity(text.len() + TITLE_ROOM);
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// [`collapse_whitespace`] for ASCII text: no char decoding, and a copy
/// when the text is already collapsed (most messages are).
fn collapse_ascii_whitespace(text: &str) -> String {
    // Collapsed: no whitespace but single spaces between words. Written as
    // whole-text tests the compiler vectorizes.
    let bytes = text.as_bytes();
    let other_space = bytes
        .iter()
        .fold(false, |any, &b| any | (b.wrapping_sub(b'\t') < 5));
    let collapsed = !other_space
        && !text.contains("  ")
        && bytes.first().is_some_and(|&b| b != b' ')
        && bytes.last().is_some_and(|&b| b != b' ');
    let mut out = String::with_capacity(text.len() + TITLE_ROOM);
    if collapsed {
        out.push_str(text);
        return out;
    }
    let space = |word| bytes_equal(word, b' ') | bytes_between::<0x09, 0x0D>(word);
    let mut at = 0;
    loop {
        while bytes.get(at).is_some_and(|&b| is_ascii_space(b)) {
            at += 1;
        }
        if at == bytes.len() {
            return out;
        }
        let end = find_byte(bytes, at, space, is_ascii_space).unwrap_or(bytes.len());
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&text[at..end]);
        at = end;
    }
}

/// Spare capacity of masked messages, for the `Type: ` of the title, which
/// is written in the same buffer.
const TITLE_ROOM: usize = 48;

/// `Type: masked message`, written in the message's buffer.
fn title(exception_type: &str, mut masked_message: String) -> String {
    if masked_message.is_empty() {
        return exception_type.to_owned();
    }
    masked_message.insert_str(0, ": ");
    masked_message.insert_str(0, exception_type);
    masked_message
}

/// Cuts to at most `max` chars (not bytes, so never inside a UTF-8
/// sequence), marking the cut with an ellipsis.
fn truncate_chars(text: String, max: usize) -> String {
    // A char is at least one byte.
    if text.len() <= max || text.chars().count() <= max {
        return text;
    }
    let keep = max.saturating_sub(1);
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut out = text[..end].to_owned();
    if max > 0 {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------
// Grouping components and hashing
// ---------------------------------------------------------------------------

/// Everything the default rules may hash, computed once per event.
struct Grouping<'a> {
    exception_type: &'a str,
    masked_message: &'a str,
    /// The masked message's learned template, when there is one.
    template: Option<TemplateId>,
    frames: Arc<GroupFrames>,
    logger_module: Option<String>,
    logger_function: Option<String>,
}

impl Grouping<'_> {
    /// Rule 2 when there are in-app frames, else rule 3.
    fn write_default(&self, components: &mut Components) -> SignatureBasis {
        if self.frames.is_empty() {
            self.write_message(components);
            SignatureBasis::Message
        } else {
            self.write_frames(components);
            SignatureBasis::Frames
        }
    }

    /// Type and frames only: never the message (it carries data) nor line
    /// numbers (they move with every unrelated edit above the crash).
    fn write_frames(&self, components: &mut Components) {
        components.push(Tag::Basis, "frames");
        components.push(Tag::Type, self.exception_type);
        // A `Location` and a `Function` component per frame.
        components.0.extend_from_slice(&self.frames.components);
    }

    /// The message's template (its stable id), else the masked message. A
    /// logger's call site is stable, so it separates equal messages logged
    /// from different places.
    fn write_message(&self, components: &mut Components) {
        match self.template {
            Some(template) => {
                components.push(Tag::Basis, "template");
                components.push(Tag::Type, self.exception_type);
                components.push_template(template);
            }
            None => {
                components.push(Tag::Basis, "message");
                components.push(Tag::Type, self.exception_type);
                components.push(Tag::Message, self.masked_message);
            }
        }
        if let Some(module) = &self.logger_module {
            components.push(Tag::LoggerModule, module);
        }
        if let Some(function) = &self.logger_function {
            components.push(Tag::LoggerFunction, function);
        }
    }

    /// Rule 1: the sender's parts verbatim (they chose them), with
    /// `{{ default }}` expanding to the default components so a fingerprint
    /// of just `{{ default }}` groups exactly like no fingerprint.
    fn write_fingerprint(&self, components: &mut Components, parts: &[String]) {
        for part in parts {
            if is_default_placeholder(part) {
                self.write_default(components);
            } else {
                components.push(Tag::Fingerprint, part);
            }
        }
    }

    fn culprit(&self) -> Option<String> {
        match self.frames.innermost() {
            Some((location, function)) => join_call_site(Some(location), Some(function)),
            None => join_call_site(
                self.logger_module.as_deref(),
                self.logger_function.as_deref(),
            ),
        }
    }
}

fn is_default_placeholder(part: &str) -> bool {
    part.chars()
        .filter(|c| !c.is_whitespace())
        .eq(DEFAULT_PLACEHOLDER.chars())
}

fn join_call_site(location: Option<&str>, function: Option<&str>) -> Option<String> {
    let location = location.filter(|l| !l.is_empty());
    let function = function.filter(|f| !f.is_empty());
    match (location, function) {
        (Some(location), Some(function)) => Some([location, " in ", function].concat()),
        (Some(only), None) | (None, Some(only)) => Some(only.to_owned()),
        (None, None) => None,
    }
}

/// Kinds of grouping component; hashed before each value so a value of one
/// kind never collides with an equal value of another.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Tag {
    Basis = b'B',
    Type = b'T',
    Location = b'L',
    Function = b'F',
    Message = b'M',
    LoggerModule = b'm',
    LoggerFunction = b'f',
    Fingerprint = b'P',
    Template = b'G',
}

/// Tagged, length-prefixed components, hashed in one xxh3 call (cheaper
/// than streaming for inputs this small). The prefixes make component
/// boundaries unambiguous (`["ab", "c"]` and `["a", "bc"]` differ); lengths
/// are little-endian u64 on every platform.
struct Components(Vec<u8>);

impl Components {
    #[cfg(test)]
    fn new() -> Self {
        Self(Vec::with_capacity(512))
    }

    fn push(&mut self, tag: Tag, value: &str) {
        self.0.push(tag as u8);
        self.0
            .extend_from_slice(&(value.len() as u64).to_le_bytes());
        self.0.extend_from_slice(value.as_bytes());
    }

    /// A template id: its leaf hash and ordinal, little-endian, under one tag.
    fn push_template(&mut self, template: TemplateId) {
        self.0.push(Tag::Template as u8);
        self.0.extend_from_slice(&12u64.to_le_bytes());
        self.0.extend_from_slice(&template.leaf.to_le_bytes());
        self.0.extend_from_slice(&template.ordinal.to_le_bytes());
    }

    fn hash(&self) -> u64 {
        xxh3_64(&self.0)
    }

    /// The hash as 16 lowercase hex digits, most significant first.
    #[cfg(test)]
    fn id(&self) -> String {
        hex_id(self.hash())
    }
}

/// A signature id: the hash as 16 lowercase hex digits, most significant first.
fn hex_id(hash: u64) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(16);
    for nibble in (0..16).rev() {
        id.push(char::from(DIGITS[((hash >> (nibble * 4)) & 0xf) as usize]));
    }
    id
}

// ---------------------------------------------------------------------------
// Frame normalization
// ---------------------------------------------------------------------------

/// The in-app frames that identify a crash site, normalized, as
/// (location, function) pairs, oldest first. Location is the module when
/// there is one (JVM, Python SDK and Go frames name code by module, and it
/// does not depend on where code is installed), else the normalized file.
/// All strings live in one buffer: one allocation for every frame.
struct GroupFrames {
    text: String,
    frames: Vec<(Range<usize>, Range<usize>)>,
    /// The frames as grouping components (see [`Grouping::write_frames`]),
    /// encoded once: the cache hands the same frames out again and again.
    components: Vec<u8>,
}

/// Repeated runs of up to this many frames are collapsed.
const MAX_CYCLE: usize = 3;

impl GroupFrames {
    /// Normalizes the in-app frames (`in_app`, else [`stack::guess_in_app`]),
    /// collapses recursion, and keeps the innermost `max_frames`.
    fn collect<'a>(frames: impl ExactSizeIterator<Item = FrameRef<'a>>, max_frames: usize) -> Self {
        let mut collected = Self {
            text: String::with_capacity(48 * frames.len()),
            frames: Vec::with_capacity(frames.len()),
            components: Vec::new(),
        };
        for frame in frames {
            let in_app = frame
                .in_app
                .unwrap_or_else(|| stack::guess_in_app_parts(frame.filename, frame.module));
            if in_app {
                collected.push(&frame);
                collected.collapse_repeat();
            }
        }
        let excess = collected.frames.len().saturating_sub(max_frames);
        collected.frames.drain(..excess);
        let mut components = Components(Vec::with_capacity(2 * collected.text.len() + 64));
        for (location, function) in collected.iter() {
            components.push(Tag::Location, location);
            components.push(Tag::Function, function);
        }
        collected.components = components.0;
        collected
    }

    fn push(&mut self, frame: &FrameRef<'_>) {
        let start = self.text.len();
        match (frame.module.filter(|m| !m.is_empty()), frame.filename) {
            (Some(module), _) => write_symbol(&mut self.text, module),
            (None, Some(file)) => write_path(&mut self.text, file),
            (None, None) => {}
        }
        let middle = self.text.len();
        write_function(&mut self.text, frame.function);
        self.frames.push((start..middle, middle..self.text.len()));
    }

    /// Drops the newest frames when they repeat the run just before them
    /// (`a a`, `a b a b`, `a b c a b c`), so the depth of a recursion, direct
    /// or mutual, does not split its group.
    fn collapse_repeat(&mut self) {
        let len = self.frames.len();
        for period in 1..=MAX_CYCLE.min(len / 2) {
            let repeats =
                (0..period).all(|i| self.get(len - 2 * period + i) == self.get(len - period + i));
            if repeats {
                self.text.truncate(self.frames[len - period].0.start);
                self.frames.truncate(len - period);
                return;
            }
        }
    }

    /// Bytes held, roughly, for the cache's bound.
    fn size(&self) -> usize {
        self.text.len()
            + self.components.len()
            + self.frames.len() * std::mem::size_of::<(Range<usize>, Range<usize>)>()
    }

    fn get(&self, index: usize) -> (&str, &str) {
        let (location, function) = &self.frames[index];
        (&self.text[location.clone()], &self.text[function.clone()])
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        (0..self.frames.len()).map(|index| self.get(index))
    }

    fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    fn innermost(&self) -> Option<(&str, &str)> {
        self.frames
            .len()
            .checked_sub(1)
            .map(|index| self.get(index))
    }
}

/// Runs a writer into a fresh string.
fn written(write: impl FnOnce(&mut String)) -> String {
    let mut out = String::new();
    write(&mut out);
    out
}

/// Path components kept: the file and its directory (`services/users.js`,
/// `shop/cli.py`). Enough to tell files apart together with the function
/// and the rest of the frames; few enough that a deploy root no rule knows
/// (`/app/`, `/srv/shop/`, `~/projects/shop/`) never reaches the signature.
const PATH_TAIL: usize = 2;

/// Segments kept while splitting a path. Longer paths drop their first
/// segments, which cannot change the result: whatever prefix is stripped,
/// such a path keeps more than [`PATH_TAIL`] segments, and only the last
/// [`PATH_TAIL`] are written.
const MAX_SEGMENTS: usize = 16;

/// Writes a file path or URL as its project-relative tail: no scheme, host,
/// query or fragment; no drive letter or machine-specific prefix (home,
/// temp and release directories); build hashes masked; last
/// [`PATH_TAIL`] components.
fn write_path(out: &mut String, raw: &str) {
    let path = strip_url(stack::trim(raw));
    let cut = find_byte(
        path.as_bytes(),
        0,
        |word| bytes_equal(word, b'?') | bytes_equal(word, b'#'),
        |b| b == b'?' || b == b'#',
    );
    let path = cut.map_or(path, |end| &path[..end]);
    let mut buffer = [""; MAX_SEGMENTS];
    let segments = strip_machine_prefix(path_segments(path, &mut buffer));
    let tail = &segments[segments.len().saturating_sub(PATH_TAIL)..];
    for (index, segment) in tail.iter().enumerate() {
        let is_file = index + 1 == tail.len();
        if index > 0 {
            out.push('/');
        }
        // Build tokens all have a digit or an upper-case letter; most
        // segments have neither and are copied as they are.
        if segment
            .bytes()
            .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            mask_runs(out, segment, |run, first| {
                is_build_token(run, first && is_file).then_some("<hash>")
            });
        } else {
            out.push_str(segment);
        }
    }
}

/// Splits on `/` and `\\` into `buffer`, skipping empty and `.` segments,
/// keeping the last [`MAX_SEGMENTS`]. No allocation: this runs for every
/// frame.
fn path_segments<'p, 'b>(path: &'p str, buffer: &'b mut [&'p str; MAX_SEGMENTS]) -> &'b [&'p str] {
    let mut count = 0;
    let mut start = 0;
    let mut push = |end: usize| {
        let segment = &path[start..end];
        start = end + 1;
        if segment.is_empty() || segment == "." {
            return;
        }
        if count == MAX_SEGMENTS {
            buffer.copy_within(1.., 0);
            count -= 1;
        }
        buffer[count] = segment;
        count += 1;
    };
    // Split on bytes: separators are ASCII, so every cut is a char boundary,
    // and no char is decoded.
    any_flagged(
        path.as_bytes(),
        |word| bytes_equal(word, b'/') | bytes_equal(word, b'\\'),
        |b| b == b'/' || b == b'\\',
        |end| {
            push(end);
            false
        },
    );
    push(path.len());
    &buffer[..count]
}

/// `https://cdn.example/static/app.js` → `/static/app.js`: the same bundle is
/// served from many hosts (CDNs, staging, customers' domains).
/// `webpack:///./src/x.js` and `file:///home/x.js` have empty hosts.
fn strip_url(path: &str) -> &str {
    // Most paths have no colon at all.
    let Some((scheme, _)) = stack::split_once_short(path, "://") else {
        return path;
    };
    let scheme_end = scheme.len();
    let is_scheme = path[..scheme_end]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | ':'));
    if !is_scheme {
        return path;
    }
    let rest = &path[scheme_end + 3..];
    rest.find('/').map_or("", |slash| &rest[slash..])
}

/// Drops leading path components that name the machine or the deploy rather
/// than the project: Windows drives, home directories (`/home/alice/`,
/// `C:\Users\bob\`), temp directories (`/tmp/xyz/`, macOS
/// `/var/folders/../T/`, `AppData/Local/Temp/xyz/`) and release directories
/// (`/srv/app/releases/20260101120000/`). The file name itself always stays.
fn strip_machine_prefix<'s>(segments: &'s [&'s str]) -> &'s [&'s str] {
    let mut rest = segments;
    if let Some(release) = rest.iter().rposition(|s| *s == "releases") {
        if release + 2 < rest.len() {
            rest = &rest[release + 2..];
        }
    }
    loop {
        let cut = match rest {
            [drive, ..] if is_drive(drive) => 1,
            ["root" | "private", ..] => 1,
            ["home" | "Users" | "tmp", ..] => 2,
            ["var", "tmp", ..] => 3,
            ["var", "folders", ..] => 5,
            ["AppData", "Local", "Temp", ..] => 4,
            _ => 0,
        };
        // The last segment is the file itself and always stays.
        let cut = cut.min(rest.len().saturating_sub(1));
        if cut == 0 {
            return rest;
        }
        rest = &rest[cut..];
    }
}

fn is_drive(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.len() == 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

/// Whether an alphanumeric run of a path is a build artifact rather than a
/// name: numbers (chunk ids, timestamps), hex with a digit (content hashes,
/// UUID parts), and, except as the first run of a file name (`Base64.js`,
/// `Log4jSetup.py`), 7+ char alphanumerics with a digit (webpack, Angular)
/// and 8-char mixed-case runs (Vite's base64 hashes).
fn is_build_token(run: &str, first_in_file_name: bool) -> bool {
    let (mut digits, mut upper, mut lower, mut hex) = (0, false, false, true);
    for b in run.bytes() {
        digits += usize::from(b.is_ascii_digit());
        upper |= b.is_ascii_uppercase();
        lower |= b.is_ascii_lowercase();
        hex &= b.is_ascii_hexdigit();
    }
    if digits == run.len() || (digits > 0 && hex && run.len() >= 4) {
        return true;
    }
    !first_in_file_name && ((digits > 0 && run.len() >= 7) || (run.len() == 8 && upper && lower))
}

/// Normalizes a module or class name: synthetic numbers (`Bar$1`, CGLIB and
/// lambda class suffixes, `0x...` addresses) are masked; real names stay.
fn write_symbol(out: &mut String, symbol: &str) {
    mask_symbol_runs(out, symbol.trim());
}

/// Function names that mean "no name".
const ANONYMOUS_NAMES: &[&str] = &["", "?", "<anonymous>", "anonymous", "<lambda>", "<unknown>"];

/// Normalizes a function name so the same function is named the same from
/// every sender and deploy:
/// - V8's alias and call markers go (`foo [as bar]`, `async foo`, `new Foo`);
/// - a JS receiver goes (`Object.foo`, `Module.foo`,
///   `HTMLButtonElement.onClick`: V8 names the receiver's type, which varies
///   with the caller; Firefox and Safari print no receiver);
/// - every anonymous marker (`<anonymous>`, Python's `<lambda>`) is `<anon>`,
///   and Firefox's nested anonymous `foo/<` is `foo/<anon>`;
/// - synthetic closure numbers are masked (`lambda$main$0`, Go's `func1`,
///   C#'s `<Main>b__0_0`, `closure #2`).
fn write_function(out: &mut String, function: Option<&str>) {
    let name = stack::trim(function.unwrap_or(""));
    // Most names have no bracket at all.
    let name = match find_equal(name.as_bytes(), 0, b'[') {
        Some(bracket) if name[..bracket].ends_with(' ') && name[bracket..].starts_with("[as ") => {
            name[..bracket].trim_end()
        }
        _ => name,
    };
    let name = ["async ", "new "]
        .iter()
        .fold(name, |n, marker| n.strip_prefix(marker).unwrap_or(n));
    let name = strip_js_receiver(name);
    let (name, nested) = match name.strip_suffix("/<") {
        Some(outer) => (outer.trim_end_matches("/<"), true),
        None => (name, false),
    };
    if ANONYMOUS_NAMES.contains(&name) {
        out.push_str("<anon>");
    } else {
        mask_symbol_runs(out, name);
    }
    if nested {
        out.push_str("/<anon>");
    }
}

/// `Object.<anonymous>` → `<anonymous>`, `Foo.prototype.bar` → `bar`. Only
/// plain dotted identifiers are touched: Go's `(*T).Method` keeps its type.
fn strip_js_receiver(name: &str) -> &str {
    let Some(dot) = name.bytes().rposition(|b| b == b'.') else {
        return name;
    };
    // Non-ASCII bytes are allowed: JS identifiers may be Unicode.
    let is_dotted_js = name
        .bytes()
        .all(|b| !b.is_ascii() || b.is_ascii_alphanumeric() || b"_$.<>".contains(&b));
    if is_dotted_js { &name[dot + 1..] } else { name }
}

/// Placeholder for a synthetic alphanumeric run in a symbol: a bare number
/// (`$1`, `b__0_0`), Go's `funcN`, an address or a generated hex id (CGLIB
/// proxies). One token for all: a generated hex id can happen to be all
/// digits, and must not then start a new group.
fn symbol_token(run: &str) -> Option<&'static str> {
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if run.strip_prefix("func").is_some_and(is_digits) {
        return Some("func<n>");
    }
    let is_address = run
        .strip_prefix("0x")
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
    let is_hex_id = run.len() >= 8
        && run.bytes().all(|b| b.is_ascii_hexdigit())
        && run.bytes().any(|b| b.is_ascii_digit());
    (is_digits(run) || is_address || is_hex_id).then_some("<n>")
}

/// Symbols only have digit-bearing runs masked, so a name without digits
/// (most of them) is copied as is.
fn mask_symbol_runs(out: &mut String, symbol: &str) {
    if symbol.bytes().any(|b| b.is_ascii_digit()) {
        mask_runs(out, symbol, |run, _| symbol_token(run));
    } else {
        out.push_str(symbol);
    }
}

/// Appends `text` to `out` with each maximal ASCII-alphanumeric run that
/// `classify` flags (given the run and whether it is the first run)
/// replaced by the returned placeholder. Runs are ASCII, so every slice
/// boundary is a char boundary.
fn mask_runs(out: &mut String, text: &str, classify: impl Fn(&str, bool) -> Option<&'static str>) {
    let bytes = text.as_bytes();
    let (mut copied, mut index, mut first) = (0, 0, true);
    while index < bytes.len() {
        if !bytes[index].is_ascii_alphanumeric() {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len() && bytes[index].is_ascii_alphanumeric() {
            index += 1;
        }
        if let Some(placeholder) = classify(&text[start..index], first) {
            out.push_str(&text[copied..start]);
            out.push_str(placeholder);
            copied = index;
        }
        first = false;
    }
    out.push_str(&text[copied..]);
}

// ---------------------------------------------------------------------------
// Fast paths for the built-in masks
// ---------------------------------------------------------------------------

/// The masks of [`default_masks`], recognized by their pattern, so an
/// operator's list may reorder, rename or drop them and keep the fast paths;
/// a changed pattern is the operator's own mask and runs as a plain regex.
///
/// Each has a necessary condition for a match that costs about one
/// vectorized pass over the text or less ([`Builtin::may_match`]). The
/// masks that real messages match most have a hand-written matcher equal to
/// the regex: same matches, same groups, Unicode `\b` included. The others
/// run their regex anchored at the few places where a match can start, or,
/// when rare, as they are. Scanning a typical message with a regex costs
/// 0.3-2 µs per mask; these cost tens of ns. The unit tests check all of
/// this against the regexes on generated text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    UrlCredentials,
    Quoted,
    UrlQueryValue,
    Email,
    Uuid,
    Ipv6,
    Ipv4,
    Timestamp,
    Duration,
    Size,
    HomeDir,
    TempDir,
    Number,
    Hex,
    IdWithNumber,
    Token,
}

/// Finds the leftmost match starting at or after byte `from` (a char
/// boundary), looking at the whole text for `\b` and `^`, like the regex
/// crate's iterators. Matches are never empty.
type Finder = fn(&str, usize) -> Option<Found>;

/// The first byte at or after `from` where a match may start (a char
/// boundary), or `None` when no match starts there or later.
type Candidates = fn(&[u8], usize) -> Option<usize>;

/// The end of a match of a pattern's first alternative at a start.
type FirstAlternative = fn(&[u8], usize) -> Option<usize>;

/// How a built-in mask finds its matches.
#[derive(Clone, Copy)]
enum Search {
    /// A hand-written matcher.
    Finder(Finder),
    /// The pattern starts with `\b` before a word char at every match, and
    /// matches start only at the candidates: the regex runs anchored there,
    /// unless the hand-written matcher of the pattern's first alternative
    /// (if any) matches there, which is then the pattern's match.
    Anchored(Candidates, Option<FirstAlternative>),
    /// The regex, over the whole text.
    Regex,
}

impl fmt::Debug for Search {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Finder(_) => "Finder",
            Self::Anchored(..) => "Anchored",
            Self::Regex => "Regex",
        })
    }
}

/// A match and the spans of capture groups 1 and 2.
struct Found {
    span: Range<usize>,
    groups: [Option<Range<usize>>; 2],
}

impl Found {
    fn whole(span: Range<usize>) -> Self {
        Self {
            span,
            groups: [None, None],
        }
    }
}

impl Builtin {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "url-credentials" => Self::UrlCredentials,
            "quoted" => Self::Quoted,
            "url-query-value" => Self::UrlQueryValue,
            "email" => Self::Email,
            "uuid" => Self::Uuid,
            "ipv6" => Self::Ipv6,
            "ipv4" => Self::Ipv4,
            "timestamp" => Self::Timestamp,
            "duration" => Self::Duration,
            "size" => Self::Size,
            "home-dir" => Self::HomeDir,
            "temp-dir" => Self::TempDir,
            "number" => Self::Number,
            "hex" => Self::Hex,
            "id-with-number" => Self::IdWithNumber,
            "token" => Self::Token,
            _ => return None,
        })
    }

    fn for_pattern(pattern: &str) -> Option<Self> {
        static BUILTINS: OnceLock<Vec<(String, Builtin)>> = OnceLock::new();
        BUILTINS
            .get_or_init(|| {
                default_masks()
                    .into_iter()
                    .filter_map(|rule| Some((rule.pattern, Self::named(&rule.name)?)))
                    .collect()
            })
            .iter()
            .find(|(builtin, _)| builtin == pattern)
            .map(|&(_, builtin)| builtin)
    }

    /// False only when the pattern cannot match a text with bytes of
    /// `classes` only.
    fn may_match(self, classes: ByteClasses, text: &str) -> bool {
        use ByteClasses as C;
        match self {
            Self::UrlCredentials => classes.has(C::COLON | C::AT) && text.contains("://"),
            Self::Quoted => classes.has(C::QUOTE),
            Self::UrlQueryValue => classes.has(C::EQUALS | C::QUERY),
            Self::Email => classes.has(C::AT | C::DOT),
            Self::Uuid => classes.has(C::DASH),
            // Full addresses have seven colons, compressed ones `::`.
            Self::Ipv6 => classes.has(C::COLON) && may_be_ipv6(text),
            Self::Ipv4 => classes.has(C::DIGIT | C::DOT),
            Self::Timestamp
            | Self::Duration
            | Self::Size
            | Self::Number
            | Self::Hex
            | Self::IdWithNumber
            | Self::Token => classes.has(C::DIGIT),
            Self::HomeDir => {
                classes.has(C::SLASH) && (text.contains("home") || text.contains("Users"))
            }
            Self::TempDir => {
                classes.has(C::SLASH)
                    && (text.contains("/var/folders/")
                        || text.contains("tmp")
                        || text.contains("Temp"))
            }
        }
    }

    fn search(self) -> Search {
        match self {
            Self::Quoted => Search::Finder(find_quoted),
            Self::Uuid => Search::Finder(find_uuid),
            Self::Ipv4 => Search::Finder(find_ipv4),
            Self::Number => Search::Finder(find_number),
            Self::Hex => Search::Finder(find_hex),
            Self::IdWithNumber => Search::Finder(find_id_with_number),
            Self::Token => Search::Finder(find_token),
            Self::Timestamp => Search::Anchored(timestamp_candidates, Some(iso_timestamp_end)),
            Self::Duration => Search::Anchored(duration_candidates, None),
            Self::Size => Search::Anchored(size_candidates, None),
            Self::UrlCredentials
            | Self::UrlQueryValue
            | Self::Email
            | Self::Ipv6
            | Self::HomeDir
            | Self::TempDir => Search::Regex,
        }
    }
}

/// Which kinds of byte a text has, from one pass: most masks need a byte
/// most messages lack (a digit, `@`, a quote, ...).
#[derive(Debug, Clone, Copy, Default)]
struct ByteClasses(u16);

impl ByteClasses {
    const DIGIT: u16 = 1;
    const AT: u16 = 1 << 1;
    const QUOTE: u16 = 1 << 2;
    const COLON: u16 = 1 << 3;
    const EQUALS: u16 = 1 << 4;
    const QUERY: u16 = 1 << 5;
    const SLASH: u16 = 1 << 6;
    const DASH: u16 = 1 << 7;
    const DOT: u16 = 1 << 8;

    const TABLE: [u16; 256] = {
        let mut table = [0; 256];
        let mut digit = b'0';
        while digit <= b'9' {
            table[digit as usize] = Self::DIGIT;
            digit += 1;
        }
        table[b'@' as usize] = Self::AT;
        table[b'"' as usize] = Self::QUOTE;
        table[b'\'' as usize] = Self::QUOTE;
        table[b'`' as usize] = Self::QUOTE;
        table[b':' as usize] = Self::COLON;
        table[b'=' as usize] = Self::EQUALS;
        table[b'?' as usize] = Self::QUERY;
        table[b'&' as usize] = Self::QUERY;
        table[b'/' as usize] = Self::SLASH;
        table[b'\\' as usize] = Self::SLASH;
        table[b'-' as usize] = Self::DASH;
        table[b'.' as usize] = Self::DOT;
        table
    };

    fn of(text: &str) -> Self {
        Self(
            text.bytes()
                .fold(0, |classes, byte| classes | Self::TABLE[usize::from(byte)]),
        )
    }

    /// Whether the text has a byte of every class in `classes`.
    fn has(self, classes: u16) -> bool {
        self.0 & classes == classes
    }

    fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

// --- Scanning --------------------------------------------------------------

/// Every IPv6 address has `::`, or seven colons in a run of hex digits
/// and colons.
fn may_be_ipv6(text: &str) -> bool {
    let bytes = text.as_bytes();
    let (mut colons, mut at) = (0, 0);
    while let Some(colon) = find_equal(bytes, at, b':') {
        if bytes.get(colon + 1) == Some(&b':') {
            return true;
        }
        let joined = colon > at && bytes[at..colon].iter().all(u8::is_ascii_hexdigit);
        colons = if joined || colon == at { colons + 1 } else { 1 };
        if colons >= 7 {
            return true;
        }
        at = colon + 1;
    }
    false
}

fn digit_run_end(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| !is_digit(b)))
        .map_or(bytes.len(), |offset| from + offset)
}

/// The starts of digit runs at or after `from`, in order (a run already
/// under way at `from` does not start there).
fn digit_run_start(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let digit = find_digit(bytes, at)?;
        if digit == 0 || !is_digit(bytes[digit - 1]) {
            return Some(digit);
        }
        at = digit_run_end(bytes, digit);
    }
}

// --- Candidates for the anchored regexes -----------------------------------

/// `timestamp`: every alternative starts with a weekday or a month name,
/// or a digit run: of exactly 4 digits before `-` or `/` (ISO and numeric
/// dates), or of 1 or 2 before `/`, `.`, `:` (dates, times) or whitespace
/// (`5 Jan 2026`). `{4}` and `{1,2}` must take the whole run, as a digit
/// cannot follow them.
fn timestamp_candidates(bytes: &[u8], from: usize) -> Option<usize> {
    const NAMES: [&[u8]; 19] = [
        b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun", b"Jan", b"Feb", b"Mar", b"Apr",
        b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    ];
    let mut at = from;
    loop {
        let start = find_byte(
            bytes,
            at,
            |word| bytes_between::<b'0', b'9'>(word) | bytes_between::<b'A', b'Z'>(word),
            |b| b.is_ascii_digit() || b.is_ascii_uppercase(),
        )?;
        if is_digit(bytes[start]) {
            let end = digit_run_end(bytes, start);
            at = end;
            if start > 0 && is_digit(bytes[start - 1]) {
                continue;
            }
            let next = bytes.get(end).copied().unwrap_or(0);
            let digit_after = bytes.get(end + 1).is_some_and(|&b| is_digit(b));
            let candidate = match end - start {
                4 => matches!(next, b'-' | b'/') && digit_after,
                1 | 2 => match next {
                    b'/' | b'.' | b':' => digit_after,
                    _ => month_follows(bytes, end, &NAMES[7..]),
                },
                _ => false,
            };
            if candidate {
                return Some(start);
            }
        } else if starts_with_any(&bytes[start..], &NAMES) {
            return Some(start);
        } else {
            at = start + 1;
        }
    }
}

/// Whether `bytes` starts with one of `words` (comparing first bytes first:
/// a slice comparison is a `memcmp` call).
fn starts_with_any(bytes: &[u8], words: &[&[u8]]) -> bool {
    bytes.first().is_some_and(|&first| {
        words
            .iter()
            .any(|word| word[0] == first && bytes.starts_with(word))
    })
}

/// Whether whitespace, then a month, follows (`5 Jan 2026`). A non-ASCII
/// byte counts, as Unicode whitespace is not ASCII.
fn month_follows(bytes: &[u8], at: usize, months: &[&[u8]]) -> bool {
    let month = bytes[at..]
        .iter()
        .position(|&b| !is_ascii_space(b))
        .map_or(bytes.len(), |offset| at + offset);
    match bytes.get(at) {
        Some(b) if !b.is_ascii() => true,
        _ if month == at => false,
        _ => bytes
            .get(month)
            .is_some_and(|&b| !b.is_ascii() || starts_with_any(&bytes[month..], months)),
    }
}

/// The first `timestamp` alternative, ISO 8601 / RFC 3339, after its `\b`:
/// `[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?`.
/// Nothing follows the optional parts, so each is taken whenever it
/// matches, greedily.
fn iso_timestamp_end(bytes: &[u8], start: usize) -> Option<usize> {
    let digits = |at: usize, count: usize| {
        bytes
            .get(at..at + count)
            .is_some_and(|run| run.iter().all(u8::is_ascii_digit))
    };
    let byte = |at: usize| bytes.get(at).copied().unwrap_or(0);
    let date = digits(start, 4)
        && byte(start + 4) == b'-'
        && digits(start + 5, 2)
        && byte(start + 7) == b'-'
        && digits(start + 8, 2);
    if !date {
        return None;
    }
    let end = start + 10;
    let time = matches!(byte(end), b'T' | b' ')
        && digits(end + 1, 2)
        && byte(end + 3) == b':'
        && digits(end + 4, 2);
    if !time {
        return Some(end);
    }
    let mut end = end + 6;
    if byte(end) == b':' && digits(end + 1, 2) {
        end += 3;
        if matches!(byte(end), b'.' | b',') && is_digit(byte(end + 1)) {
            end = digit_run_end(bytes, end + 1);
        }
    }
    if byte(end) == b'Z' {
        end += 1;
    } else if matches!(byte(end), b'+' | b'-') && digits(end + 1, 2) {
        if byte(end + 3) == b':' && digits(end + 4, 2) {
            end += 6;
        } else if digits(end + 3, 2) {
            end += 5;
        }
    }
    Some(end)
}

/// `duration`: a number, at most one whitespace char, then a unit (or
/// `s`, `m` or `h` right after the number). Units are told apart by their
/// first two letters (`ns`, `na`noseconds, `mi`n, `ms`, `se`c, `ho`ur,
/// `hr`, `da`y, `we`ek); `µs` is not ASCII.
fn duration_candidates(bytes: &[u8], from: usize) -> Option<usize> {
    number_with_unit(bytes, from, |unit, spaced| match unit {
        [b's' | b'm' | b'h', ..] if !spaced => true,
        [b'n', b's' | b'a', ..]
        | [b'm', b's' | b'i', ..]
        | [b's', b'e', ..]
        | [b'h', b'o' | b'r', ..]
        | [b'd', b'a', ..]
        | [b'w', b'e', ..] => true,
        [first, ..] => !first.is_ascii(),
        [] => false,
    })
}

/// `size`: a number, at most one whitespace char, then a unit:
/// `[KMGTP]i?B`, `[kmgt]b` or `bytes?`.
fn size_candidates(bytes: &[u8], from: usize) -> Option<usize> {
    number_with_unit(bytes, from, |unit, _| match unit {
        [b'K' | b'M' | b'G' | b'T' | b'P', b'B' | b'i', ..]
        | [b'k' | b'm' | b'g' | b't', b'b', ..]
        | [b'b', b'y', ..] => true,
        [first, ..] => !first.is_ascii(),
        [] => false,
    })
}

/// Starts of `[0-9]+(?:\.[0-9]+)?` followed by what `is_unit` takes, after
/// at most one whitespace char (whether there was one is its second
/// argument). A non-ASCII byte there counts as whitespace: Unicode
/// whitespace is not ASCII.
fn number_with_unit(
    bytes: &[u8],
    from: usize,
    is_unit: impl Fn(&[u8], bool) -> bool,
) -> Option<usize> {
    let unit_follows = |at: usize| match bytes.get(at) {
        None => false,
        Some(b) if !b.is_ascii() => true,
        Some(&b) if is_ascii_space(b) => is_unit(&bytes[at + 1..], true),
        Some(_) => is_unit(&bytes[at..], false),
    };
    let mut at = from;
    loop {
        let start = digit_run_start(bytes, at)?;
        let mut end = digit_run_end(bytes, start);
        at = end;
        if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(|&b| is_digit(b)) {
            let decimals = digit_run_end(bytes, end + 1);
            // The unit may follow the integer or the decimals.
            if unit_follows(end) {
                return Some(start);
            }
            end = decimals;
        }
        if unit_follows(end) {
            return Some(start);
        }
    }
}

// --- Replacing ---------------------------------------------------------------

/// Replaces every match `find` finds, expanding `template` with its groups,
/// into `out`; false when nothing matched. Equal to `Regex::replace_all`
/// for a regex whose matches `find` finds.
fn replace_found(
    text: &str,
    mut find: impl FnMut(&str, usize) -> Option<Found>,
    template: &Template,
    out: &mut String,
    edits: &mut Edits,
) -> bool {
    let (mut copied, mut from) = (0, 0);
    while let Some(found) = find(text, from) {
        debug_assert!(found.span.start >= from && found.span.end > found.span.start);
        if from == 0 {
            out.clear();
            out.reserve(text.len() + TITLE_ROOM);
        }
        out.push_str(&text[copied..found.span.start]);
        let written = out.len();
        for piece in &template.pieces {
            match piece {
                Piece::Literal(literal) => out.push_str(literal),
                Piece::Group(0) => out.push_str(&text[found.span.clone()]),
                Piece::Group(index) => {
                    if let Some(Some(group)) = found.groups.get(index - 1) {
                        out.push_str(&text[group.clone()]);
                    }
                }
            }
        }
        edits.push(Edit {
            replaced: (found.span.start, found.span.end),
            written: (written, out.len()),
        });
        copied = found.span.end;
        from = found.span.end;
    }
    if from == 0 {
        return false;
    }
    out.push_str(&text[copied..]);
    true
}

/// One replacement: the bytes of the old text it replaced, and those of the
/// new text it wrote (start, end).
#[derive(Debug, Clone, Copy, Default)]
struct Edit {
    replaced: (usize, usize),
    written: (usize, usize),
}

/// The replacements of one mask, in order: the first [`EDITS`] of them
/// (no allocation), and whether there were more.
struct Edits {
    edits: [Edit; EDITS],
    len: usize,
    overflowed: bool,
}

const EDITS: usize = 8;

impl Default for Edits {
    fn default() -> Self {
        Self {
            edits: [Edit::default(); EDITS],
            len: 0,
            overflowed: false,
        }
    }
}

impl Edits {
    fn clear(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    fn push(&mut self, edit: Edit) {
        match self.edits.get_mut(self.len) {
            Some(slot) => {
                *slot = edit;
                self.len += 1;
            }
            None => self.overflowed = true,
        }
    }

    /// The span the first replacement replaced.
    fn first(&self) -> Option<Range<usize>> {
        self.edits[..self.len]
            .first()
            .map(|edit| edit.replaced.0..edit.replaced.1)
    }

    /// All of them, if they all fit.
    fn all(&self) -> Option<&[Edit]> {
        (!self.overflowed && self.len > 0).then(|| &self.edits[..self.len])
    }
}

/// The bytes of a text that replacements wrote, as merged sorted ranges,
/// or all of them. What was not written is the message as it was: a match
/// that touches none of these (nor the char on either side) is a match of
/// the message itself. Fixed capacity, no allocation: past it, everything
/// counts as written.
struct Written {
    ranges: [(usize, usize); WRITTEN_RANGES],
    len: usize,
    everything: bool,
}

const WRITTEN_RANGES: usize = 8;

impl Default for Written {
    fn default() -> Self {
        Self {
            ranges: [(0, 0); WRITTEN_RANGES],
            len: 0,
            everything: false,
        }
    }
}

impl Written {
    /// Whether `span`, or the byte on either side, was written.
    fn touches(&self, span: &Range<usize>) -> bool {
        let (start, end) = (span.start.saturating_sub(1), span.end + 1);
        self.everything
            || self.ranges[..self.len]
                .iter()
                .any(|&(from, to)| from < end && start < to)
    }

    /// Follows the text through `edits` (none recorded: unknown edits).
    fn update(&mut self, edits: &Edits) {
        let Some(edits) = edits.all().filter(|e| self.len + e.len() <= WRITTEN_RANGES) else {
            self.everything = true;
            return;
        };
        if self.everything {
            return;
        }
        // A position after an edit moves with that edit's end; one inside
        // an edit widens to all of what it wrote.
        let map = |position: usize, is_end: bool| {
            let mut moved = position;
            for edit in edits {
                let ((replaced_start, replaced_end), (written_start, written_end)) =
                    (edit.replaced, edit.written);
                if replaced_end <= position {
                    moved = position - replaced_end + written_end;
                } else {
                    if replaced_start < position {
                        moved = if is_end { written_end } else { written_start };
                    }
                    break;
                }
            }
            moved
        };
        // Deleting joins the chars around the deletion.
        let wrote = |edit: &Edit| match edit.written {
            (start, end) if start == end => (start.saturating_sub(1), start + 1),
            written => written,
        };
        // Both sequences are sorted: merge them, joining overlaps.
        let old = self.ranges;
        let mut moved = old[..self.len]
            .iter()
            .map(|&(from, to)| (map(from, false), map(to, true)))
            .peekable();
        let mut wrote = edits.iter().map(wrote).peekable();
        self.len = 0;
        loop {
            let next = match (moved.peek(), wrote.peek()) {
                (Some(a), Some(b)) if a.0 <= b.0 => moved.next(),
                (Some(_), Some(_)) | (None, Some(_)) => wrote.next(),
                (Some(_), None) => moved.next(),
                (None, None) => break,
            };
            let Some((from, to)) = next else { break };
            match self.len.checked_sub(1).map(|last| &mut self.ranges[last]) {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => {
                    self.ranges[self.len] = (from, to);
                    self.len += 1;
                }
            }
        }
    }
}

/// The leftmost match of `anchored` (`^(?:pattern)`) at a candidate at or
/// after `from` where `\b` holds (the candidate is a word char, so the char
/// before must not be one). The regex sees the text from the candidate on;
/// the `\b` it then sees at its start is the one checked here.
fn find_anchored(
    anchored: &Regex,
    candidates: Candidates,
    first: Option<FirstAlternative>,
    text: &str,
    from: usize,
) -> Option<Found> {
    let mut at = from;
    while let Some(start) = candidates(text.as_bytes(), at) {
        if !word_before(text, start) {
            if let Some(end) = first.and_then(|first| first(text.as_bytes(), start)) {
                return Some(Found::whole(start..end));
            }
            if let Some(found) = anchored.find(&text[start..]) {
                if !found.is_empty() {
                    return Some(Found::whole(start..start + found.end()));
                }
            }
        }
        at = start + 1;
    }
    None
}

// --- Unicode `\w`, as the regex crate's `\b` sees it ---------------------------

fn is_ascii_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return is_ascii_word(c as u8);
    }
    // Rare (non-ASCII text next to a candidate match): ask the regex crate,
    // whose Unicode word class is the definition.
    static WORD: OnceLock<Regex> = OnceLock::new();
    WORD.get_or_init(|| Regex::new(r"^\w$").expect("valid regex"))
        .is_match(c.encode_utf8(&mut [0; 4]))
}

/// Whether the char before byte `at` (a char boundary) is a word char.
fn word_before(text: &str, at: usize) -> bool {
    match at.checked_sub(1).map(|index| text.as_bytes()[index]) {
        None => false,
        Some(byte) if byte.is_ascii() => is_ascii_word(byte),
        Some(_) => text[..at].chars().next_back().is_some_and(is_word_char),
    }
}

/// Whether the char at byte `at` (a char boundary) is a word char.
fn word_at(text: &str, at: usize) -> bool {
    match text.as_bytes().get(at) {
        None => false,
        Some(&byte) if byte.is_ascii() => is_ascii_word(byte),
        Some(_) => text[at..].chars().next().is_some_and(is_word_char),
    }
}

/// The start of the word that `at` is in or ends.
fn word_start(text: &str, mut at: usize) -> usize {
    while word_before(text, at) {
        at -= text[..at].chars().next_back().map_or(1, char::len_utf8);
    }
    at
}

/// The end of the word that `at` is in or starts.
fn word_end(text: &str, mut at: usize) -> usize {
    while word_at(text, at) {
        at += text[at..].chars().next().map_or(1, char::len_utf8);
    }
    at
}

// --- The matchers ----------------------------------------------------------

/// `quoted`: `\B(?:"[^"\n]*"|'[^'\n]*'|`[^`\n]*`)\B`. A quote is not a word
/// char, so `\B` wants none before the opening quote and none after the
/// closing one, which is the next same quote unless a line break comes first.
fn find_quoted(text: &str, from: usize) -> Option<Found> {
    let bytes = text.as_bytes();
    let mut at = from;
    let quotes =
        |word| bytes_equal(word, b'"') | bytes_equal(word, b'\'') | bytes_equal(word, b'`');
    while let Some(open) = find_byte(bytes, at, quotes, |b| matches!(b, b'"' | b'\'' | b'`')) {
        at = open + 1;
        if word_before(text, open) {
            continue;
        }
        let quote = bytes[open];
        let close = find_byte(
            bytes,
            open + 1,
            |word| bytes_equal(word, quote) | bytes_equal(word, b'\n'),
            |b| b == quote || b == b'\n',
        );
        if let Some(close) = close.filter(|&close| bytes[close] == quote) {
            if !word_at(text, close + 1) {
                return Some(Found::whole(open..close + 1));
            }
        }
    }
    None
}

/// `uuid`: `\b` 8-4-4-4-12 hex digits `\b`.
fn find_uuid(text: &str, from: usize) -> Option<Found> {
    const LEN: usize = 36;
    let bytes = text.as_bytes();
    let mut at = from + 8;
    while let Some(dash) = find_equal(bytes, at, b'-') {
        at = dash + 1;
        let start = dash - 8;
        let shaped = bytes.len() - start >= LEN
            && bytes[start..start + LEN]
                .iter()
                .enumerate()
                .all(|(i, b)| match i {
                    8 | 13 | 18 | 23 => *b == b'-',
                    _ => b.is_ascii_hexdigit(),
                });
        if shaped && !word_before(text, start) && !word_at(text, start + LEN) {
            return Some(Found::whole(start..start + LEN));
        }
    }
    None
}

/// `ipv4`: `\b(?:OCTET\.){3}OCTET(?::[0-9]{1,5})?\b`. Each octet is a
/// whole digit run (a dot, or for the last one a `:` or `\b`, must follow),
/// so it must read as 0-255 without leading zeros; the port is kept only if
/// `\b` follows it, else the match ends before the `:`.
fn find_ipv4(text: &str, from: usize) -> Option<Found> {
    let bytes = text.as_bytes();
    // The first octet is a digit run right before a dot: look for dots.
    let mut at = from;
    while let Some(dot) = find_equal(bytes, at, b'.') {
        at = dot + 1;
        let digits = bytes[from..dot]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let start = dot - digits;
        if digits == 0 || (start > 0 && is_digit(bytes[start - 1])) || word_before(text, start) {
            continue;
        }
        if let Some(end) = ipv4_end(text, start) {
            return Some(Found::whole(start..end));
        }
    }
    None
}

fn ipv4_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = start;
    for octet in 0..4 {
        if octet > 0 {
            if bytes.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let end = digit_run_end(bytes, at);
        if !is_octet(&bytes[at..end]) {
            return None;
        }
        at = end;
    }
    if bytes.get(at) == Some(&b':') {
        let port_end = digit_run_end(bytes, at + 1);
        let port = port_end - (at + 1);
        if (1..=5).contains(&port) && !word_at(text, port_end) {
            return Some(port_end);
        }
        // `:` is no word char, so `\b` holds after the last octet.
        return Some(at);
    }
    (!word_at(text, at)).then_some(at)
}

/// `25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]`, matched whole.
fn is_octet(digits: &[u8]) -> bool {
    matches!(
        digits,
        [_] | [b'1'..=b'9', _] | [b'1', _, _] | [b'2', b'0'..=b'4', _] | [b'2', b'5', b'0'..=b'5']
    )
}

/// `number`: `(^|[^\w.\-])-?[0-9]+(?:\.[0-9]+)*\b`, group 1 the char before.
/// A match starts where a digit run does (or at the `-` before it); the
/// greedy `(?:\.[0-9]+)*` backs off one group when `\b` fails after the
/// last one (the group before ends at a `.`, so `\b` holds there).
fn find_number(text: &str, from: usize) -> Option<Found> {
    let bytes = text.as_bytes();
    let mut at = from;
    while let Some(digits) = digit_run_start(bytes, at) {
        let run_end = digit_run_end(bytes, digits);
        at = run_end;
        let tail = if digits > 0 && bytes[digits - 1] == b'-' {
            digits - 1
        } else {
            digits
        };
        let start = match text[..tail].chars().next_back() {
            // `^`: group 1 is empty.
            None => 0,
            Some(c) if c == '.' || c == '-' || is_word_char(c) => continue,
            Some(c) => tail - c.len_utf8(),
        };
        if start < from {
            continue;
        }
        let (mut end, mut previous) = (run_end, None);
        while bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(|&b| is_digit(b)) {
            previous = Some(end);
            end = digit_run_end(bytes, end + 1);
        }
        let end = match (word_at(text, end), previous) {
            (false, _) => end,
            (true, Some(previous)) => previous,
            (true, None) => continue,
        };
        return Some(Found {
            span: start..end,
            groups: [Some(start..tail), None],
        });
    }
    None
}

/// `hex`: `\b0[xX][0-9A-Fa-f]+\b|\b(?:hex run of 7+ with a digit)\b`. Both
/// sides are `\b` around word chars, so a match is a whole word.
fn find_hex(text: &str, from: usize) -> Option<Found> {
    find_word_with_digit(text, from, |word| {
        let prefixed = word.len() > 2
            && word[0] == b'0'
            && matches!(word[1], b'x' | b'X')
            && word[2..].iter().all(u8::is_ascii_hexdigit);
        prefixed
            || (word.len() >= 7
                && word.iter().all(u8::is_ascii_hexdigit)
                && word.iter().any(|&b| is_digit(b)))
    })
}

/// `token`: `\b(?:10+ ASCII letters and digits with a digit)\b`: a whole word.
fn find_token(text: &str, from: usize) -> Option<Found> {
    find_word_with_digit(text, from, |word| {
        word.len() >= 10
            && word.iter().all(u8::is_ascii_alphanumeric)
            && word.iter().any(|&b| is_digit(b))
    })
}

/// The first whole word (Unicode `\w` run) at or after `from` that has an
/// ASCII digit and that `accept` takes.
fn find_word_with_digit(text: &str, from: usize, accept: fn(&[u8]) -> bool) -> Option<Found> {
    let bytes = text.as_bytes();
    let mut at = from;
    while let Some(digit) = find_digit(bytes, at) {
        let (start, end) = (word_start(text, digit), word_end(text, digit));
        if start >= from && accept(&bytes[start..end]) {
            return Some(Found::whole(start..end));
        }
        at = end;
    }
    None
}

/// `id-with-number`:
/// `\b([A-Za-z_]*[a-z][A-Za-z_]*)(?:([_\-:#])(?:[0-9][A-Za-z0-9]+|[A-Za-z][A-Za-z0-9]*[0-9][A-Za-z0-9]*)|[0-9]{4,})\b`.
/// Every char of a match is in [`is_id_byte`], and it has a digit, so only
/// runs of those bytes with a digit are tried, at each word start.
fn find_id_with_number(text: &str, from: usize) -> Option<Found> {
    let bytes = text.as_bytes();
    let mut at = from;
    while let Some(digit) = find_digit(bytes, at) {
        let mut region = digit;
        while region > from && is_id_byte(bytes[region - 1]) {
            region -= 1;
        }
        let region_end = bytes[digit..]
            .iter()
            .position(|&b| !is_id_byte(b))
            .map_or(bytes.len(), |offset| digit + offset);
        let found = (region..region_end)
            .filter(|&start| is_name_byte(bytes[start]) && !word_before(text, start))
            .find_map(|start| id_with_number_at(text, start));
        if found.is_some() {
            return found;
        }
        at = region_end;
    }
    None
}

fn is_id_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b':' | b'#')
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

/// The match at `start`, a word start. Group 1 is a `[A-Za-z_]` run with a
/// lower-case letter; backtracking tries its ends from the longest to just
/// after the first lower-case letter, and the first end that the rest
/// matches after wins.
fn id_with_number_at(text: &str, start: usize) -> Option<Found> {
    let bytes = text.as_bytes();
    let name_end = bytes[start..]
        .iter()
        .position(|&b| !is_name_byte(b))
        .map_or(bytes.len(), |offset| start + offset);
    let first_lower = start
        + bytes[start..name_end]
            .iter()
            .position(u8::is_ascii_lowercase)?;
    (first_lower + 1..=name_end).rev().find_map(|name_end| {
        let (end, separator) = id_tail(text, name_end)?;
        Some(Found {
            span: start..end,
            groups: [Some(start..name_end), separator],
        })
    })
}

/// After the name: a separator and an id with a digit, or 4+ digits; then
/// `\b`. The id is a whole `[A-Za-z0-9]` run (`\b` cannot hold inside one).
fn id_tail(text: &str, at: usize) -> Option<(usize, Option<Range<usize>>)> {
    let bytes = text.as_bytes();
    match *bytes.get(at)? {
        b'_' | b'-' | b':' | b'#' => {
            let id = at + 1;
            let id_end = bytes[id..]
                .iter()
                .position(|b| !b.is_ascii_alphanumeric())
                .map_or(bytes.len(), |offset| id + offset);
            let valid = match &bytes[id..id_end] {
                [] => false,
                [first, ..] if is_digit(*first) => id_end - id >= 2,
                run => run.iter().any(|&b| is_digit(b)),
            };
            (valid && !word_at(text, id_end)).then_some((id_end, Some(at..at + 1)))
        }
        b'0'..=b'9' => {
            let end = digit_run_end(bytes, at);
            (end - at >= 4 && !word_at(text, end)).then_some((end, None))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Default masks
// ---------------------------------------------------------------------------

fn rule(name: &str, pattern: &str, replacement: &str) -> MaskRule {
    MaskRule {
        name: name.to_owned(),
        pattern: pattern.to_owned(),
        replacement: replacement.to_owned(),
    }
}

/// Alternation matching a run of at least `min` characters of `class`
/// containing at least one ASCII digit. The regex crate has no lookahead, so
/// "long enough" and "has a digit" are combined by enumerating how many
/// `letters` precede the first digit.
fn digit_containing_run(letters: &str, class: &str, min: usize) -> String {
    let last = min.saturating_sub(1);
    let mut branches: Vec<String> = (0..last)
        .map(|k| format!("{letters}{{{k}}}[0-9]{class}{{{},}}", last - k))
        .collect();
    branches.push(format!("{letters}{{{last},}}[0-9]{class}*"));
    branches.join("|")
}

/// Dates and times, one alternative per format, all `<ts>`:
/// - ISO 8601 / RFC 3339 (`2026-01-05T12:34:56.789Z`, `2026-01-05 12:34:56+01:00`, `2026-01-05`);
/// - RFC 2822 / HTTP dates and JavaScript's `Date#toString`, with its
///   localized zone name in parentheses;
/// - numeric dates with a four-digit year (`05/01/2026`, `2026/1/5`), so
///   versions like `1.2.10` are not dates;
/// - times with seconds or am/pm (`12:34:56`, `9:05 PM`), so `app.js:12:34`
///   stays a location.
fn timestamp_pattern() -> String {
    const MONTH: &str = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?";
    let iso = r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?";
    let text = format!(
        r"(?:\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?\b(?:[0-9]{{1,2}}\s+{MONTH}\s+[0-9]{{4}}|{MONTH}\s+[0-9]{{1,2}},?\s+[0-9]{{4}})(?:,?\s+[0-9]{{1,2}}:[0-9]{{2}}(?::[0-9]{{2}}(?:\.[0-9]+)?)?)?(?:\s*(?:GMT|UTC)(?:[+-][0-9]{{2}}:?[0-9]{{2}})?(?:\s+\([^)]*\))?|\s*[+-][0-9]{{4}})?"
    );
    let numeric = r"\b(?:[0-9]{1,2}[/.][0-9]{1,2}[/.][0-9]{4}|[0-9]{4}/[0-9]{1,2}/[0-9]{1,2})\b";
    let time = r"\b[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?(?:\s?(?:[AaPp][Mm]|Z|UTC|GMT|[+-][0-9]{2}:?[0-9]{2}))?|\s?[AaPp][Mm])\b";
    format!("{iso}|{text}|{numeric}|{time}")
}

/// IPv6, full or `::`-compressed, optionally `[bracketed]:port`. The
/// leading class (captured, as the regex crate has no lookbehind) keeps
/// `Foo::bar` and `std::vec` intact.
fn ipv6_pattern() -> String {
    const H: &str = "[0-9A-Fa-f]{1,4}";
    format!(
        r"(^|[^\w:.\[])\[?(?:(?:{H}:){{7}}{H}|(?:{H}(?::{H}){{0,6}})?::{H}(?::{H}){{0,6}})\b(?:\]:[0-9]{{1,5}}\b|\])?"
    )
}

/// IPv4, optionally with `:port`.
fn ipv4_pattern() -> String {
    const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    format!(r"\b(?:{OCTET}\.){{3}}{OCTET}(?::[0-9]{{1,5}})?\b")
}

/// The built-in masks, in order. Order matters: structured values are masked
/// whole before the generic number and id rules could cut them into pieces,
/// and every replacement token is free of digits so later rules never
/// re-mask it.
///
/// Deliberately kept: words; identifiers whose digits are part of the name
/// (`utf8`, `utf-8`, `v2`, `http2`, `x86_64`, `sha256`, `base64`, `IPv4`,
/// `int64`: at most three digits glued to the name, or one after a
/// separator); upper-case error codes (`E11000`, `ORA-00942`,
/// `ERR_HTTP2_STREAM_ERROR`), because a different code is a different bug;
/// HTTP methods; URL schemes, hosts and word path segments, which name the
/// endpoint.
pub fn default_masks() -> Vec<MaskRule> {
    vec![
        // Credentials inside URLs are secrets and differ per user.
        rule(
            "url-credentials",
            r"://[^/\s@:]+(?::[^/\s@]*)?@",
            "://<auth>@",
        ),
        // Quoted text is almost always data (a key, a value, a user's input):
        // `(reading 'id')` and `(reading 'name')` are one bug seen with two
        // properties. `\B` keeps apostrophes inside words (`can't`). The
        // pattern starts with the quote so the regex engine can skip to
        // quotes (so a Python `b'..'` prefix is not matched).
        rule("quoted", r#"\B(?:"[^"\n]*"|'[^'\n]*'|`[^`\n]*`)\B"#, "<q>"),
        // Query values vary per request; the keys say which endpoint shape failed.
        rule(
            "url-query-value",
            r"([?&][A-Za-z0-9_.\-\[\]%]+=)[^&#\s]*",
            "${1}<v>",
        ),
        rule(
            "email",
            r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b",
            "<email>",
        ),
        rule(
            "uuid",
            r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b",
            "<uuid>",
        ),
        // Before timestamps: a time-like `12:34:56` inside an IPv6 address
        // must not be read as a time.
        rule("ipv6", &ipv6_pattern(), "${1}<ip>"),
        rule("ipv4", &ipv4_pattern(), "<ip>"),
        rule("timestamp", &timestamp_pattern(), "<ts>"),
        // Timeouts and latencies vary per occurrence (`250ms`, `1.5s`,
        // `3 minutes`, `1h30m`). No bare `d` unit: `1234567d` is a hex id.
        rule(
            "duration",
            r"\b(?:[0-9]+(?:\.[0-9]+)?(?:\s?(?:nanoseconds?|microseconds?|milliseconds?|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|ns|µs|ms)|[smh]))+\b",
            "<dur>",
        ),
        // Sizes vary with the payload. No bare `B`: it is a hex digit.
        rule(
            "size",
            r"\b[0-9]+(?:\.[0-9]+)?\s?(?:[KMGTP]i?B|[kmgt]b|bytes?)\b",
            "<size>",
        ),
        // The user part of a home directory differs per machine.
        rule(
            "home-dir",
            r"([/\\](?:home|Users)[/\\])[^/\\\s]+",
            "${1}<user>",
        ),
        // Temp directories are random per run (`/tmp/x`, macOS
        // `/var/folders/xy/abc/`, Windows `\Temp\x`).
        rule(
            "temp-dir",
            r"(/var/folders/)[^/\s]+/[^/\s]+|([/\\](?:tmp|Temp)[/\\])[^/\\\s]+",
            "${1}${2}<tmp>",
        ),
        // Plain numbers: counts, ids, ports, line numbers, HTTP statuses (a
        // status is data of a failed call; the frames rule never sees the
        // message anyway). Not after `-` or `.`, so `utf-8`, `ISO-8859-1`
        // and `v1.2.3` keep their digits; the leading character is captured
        // because the regex crate has no lookbehind.
        rule("number", r"(^|[^\w.\-])-?[0-9]+(?:\.[0-9]+)*\b", "${1}<n>"),
        // Addresses (`0x7ffd5e8c`) and hashes, object ids, commit shas: 7+
        // hex chars with a digit, so words like `deadbeef` or `defaced`
        // stay. After `number`, so a pure-digit id is always `<n>`, whatever
        // its length.
        rule(
            "hex",
            &format!(
                r"\b0[xX][0-9A-Fa-f]+\b|\b(?:{})\b",
                digit_containing_run("[A-Fa-f]", "[0-9A-Fa-f]", 7)
            ),
            "<hex>",
        ),
        // Numbers inside identifiers: `user_12345`, `order7781`,
        // `sess-a8f3k2j9q1`. The name part must contain a lower-case letter
        // (so `E11000` and `ORA-00942` stay); glued digits need four or more
        // (so `sha256`, `base64`, `http2` stay); after a separator the id
        // needs two or more characters (so `utf-8` stays).
        rule(
            "id-with-number",
            r"\b([A-Za-z_]*[a-z][A-Za-z_]*)(?:([_\-:#])(?:[0-9][A-Za-z0-9]+|[A-Za-z][A-Za-z0-9]*[0-9][A-Za-z0-9]*)|[0-9]{4,})\b",
            "${1}${2}<id>",
        ),
        // Random tokens (session ids, API keys, nonces): 10+ letters and
        // digits with at least one digit, so long words stay.
        rule(
            "token",
            &format!(
                r"\b(?:{})\b",
                digit_containing_run("[A-Za-z]", "[A-Za-z0-9]", 10)
            ),
            "<id>",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::Frame;

    /// One signer for all tests: compiling the masks is the slow part.
    fn signer() -> &'static Signer {
        static SIGNER: std::sync::OnceLock<Signer> = std::sync::OnceLock::new();
        SIGNER.get_or_init(|| {
            Signer::new(&SignatureConfig::default()).expect("default config compiles")
        })
    }

    fn masked(message: &str) -> String {
        signer().mask(message)
    }

    fn frame(file: &str, function: &str, line: u32) -> Frame {
        Frame {
            filename: Some(file.to_owned()),
            function: Some(function.to_owned()),
            lineno: Some(line),
            ..Frame::default()
        }
    }

    fn event(exception_type: Option<&str>, message: &str, frames: Vec<Frame>) -> Event {
        Event {
            exception_type: exception_type.map(str::to_owned),
            message: message.to_owned(),
            frames,
            ..Event::default()
        }
    }

    // --- masks ----------------------------------------------------------

    #[test]
    fn each_default_mask_masks_its_kind() {
        let cases = [
            (
                "https://bob:hunter2@db.example/x",
                "https://<auth>@db.example/x",
            ),
            ("reading 'id')", "reading <q>)"),
            (r#"key "a b" and `c`"#, "key <q> and <q>"),
            ("{'a@b.io': (550, 'user unknown')}", "{<q>: (<n>, <q>)}"),
            (
                "GET https://api.example/search?q=shoes&page=2",
                "GET https://api.example/search?q=<v>&page=<v>",
            ),
            (
                "mail bob.smith+x@mail.example.co.uk now",
                "mail <email> now",
            ),
            ("id 3b241101-E2BB-4255-8caf-4136c566a962.", "id <uuid>."),
            (
                "from 2001:db8::8a2e:370:7334 and [::1]:8080",
                "from <ip> and <ip>",
            ),
            ("from fe80:0:0:0:202:b3ff:fe1e:8329", "from <ip>"),
            ("to 10.0.12.7:5432 and 192.168.1.1", "to <ip> and <ip>"),
            (
                "at 2026-01-05T12:34:56.789Z and 2026-01-05",
                "at <ts> and <ts>",
            ),
            ("at 2026-01-05 12:34:56+01:00.", "at <ts>."),
            ("at Mon, 05 Jan 2026 12:34:56 GMT", "at <ts>"),
            (
                "at Mon Jan 05 2026 12:34:56 GMT+0100 (Central European Standard Time)!",
                "at <ts>!",
            ),
            ("on 05/01/2026 and 2026/1/5", "on <ts> and <ts>"),
            ("at 12:34:56 or 9:05 PM", "at <ts> or <ts>"),
            (
                "took 250ms, 1.5s, 3 minutes, 1h30m",
                "took <dur>, <dur>, <dur>, <dur>",
            ),
            (
                "payload 5MB > 512 KiB of 10 bytes",
                "payload <size> > <size> of <size>",
            ),
            ("open /home/alice/app/x.py", "open /home/<user>/app/x.py"),
            (r"open C:\Users\bob\proj", r"open C:\Users\<user>\proj"),
            ("write /tmp/tmpa8f3k2/out.csv", "write /tmp/<tmp>/out.csv"),
            (
                "in /var/folders/xy/abc123/T/foo",
                "in /var/folders/<tmp>/T/foo",
            ),
            ("at 0x7ffd5e8c and 0XFF", "at <hex> and <hex>"),
            (
                "user 12345 tried 3 times (-1) at #9",
                "user <n> tried <n> times (<n>) at #<n>",
            ),
            (
                "GET /api/v1/users/42/orders",
                "GET /api/v1/users/<n>/orders",
            ),
            (
                "commit 3f2a9c1 object 507f1f77bcf86cd799439011",
                "commit <hex> object <hex>",
            ),
            (
                "user_12345 order7781 cart:42 sess-a8f3k2j9q1",
                "user_<id> order<id> cart:<n> sess-<id>",
            ),
            ("token a8f3k2j9q1x7 expired", "token <id> expired"),
            ("at app.js:12:34", "at app.js:<n>:<n>"),
        ];
        for (input, expected) in cases {
            assert_eq!(masked(input), expected, "input: {input}");
        }
    }

    #[test]
    fn masks_keep_meaningful_tokens() {
        let kept = [
            "utf8 utf-8 v2 http2 x86_64 sha256 base64 IPv4 IPv6 int64 ISO-8859-1",
            "E11000 duplicate key ORA-00942 ERR_HTTP2_STREAM_ERROR ECONNREFUSED",
            "GET POST PUT DELETE PATCH HEAD OPTIONS",
            "deadbeef defaced Float Unauthorized can't won't it's",
            "std::vector Foo::bar a.b.c v1.2.3",
            "connection reset by peer",
        ];
        for text in kept {
            assert_eq!(masked(text), text);
        }
    }

    #[test]
    fn mask_collapses_whitespace_and_bounds_length() {
        assert_eq!(masked("  a \n\t b  "), "a b");
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(masked(&long).len(), MAX_MESSAGE_BYTES);
    }

    #[test]
    fn operator_masks_run_in_order_and_see_earlier_output() {
        let cfg = SignatureConfig {
            masks: vec![rule("digits", "[0-9]+", "N"), rule("pairs", "N-N", "RANGE")],
            ..SignatureConfig::default()
        };
        let signer = Signer::new(&cfg).expect("compiles");
        assert_eq!(signer.mask("rows 1-20 of 300"), "rows RANGE of N");
    }

    #[test]
    fn templates_expand_like_the_regex_crate() {
        let regex = Regex::new(r"(?P<word>[a-z]+)-(\d+)").expect("regex");
        let text = "ab-12 and cd-34!";
        for replacement in [
            "<id>",
            "${1}<n>",
            "$1$2",
            "$word:$2",
            "${word}x",
            "$1a",
            "$$1",
            "${}",
            "$",
            "${1",
            "$9",
            "${nope}",
            "a$$b",
            "",
            "$2$word$$",
        ] {
            let template = Template::parse(replacement, &regex);
            assert_eq!(
                regex.replace_all(text, Expand(&template)),
                regex.replace_all(text, replacement),
                "replacement {replacement:?}"
            );
        }
    }

    impl Signer {
        /// What [`Signer::mask`] computes, as the former implementation did
        /// it with the masks' regexes alone (a `RegexSet` told which masks
        /// match a text, as `is_match` does here).
        fn mask_reference(&self, message: &str) -> String {
            let original = collapse_whitespace(bounded(message));
            let matching = |text: &str| -> Vec<bool> {
                self.masks.iter().map(|m| m.regex.is_match(text)).collect()
            };
            let replace = |mask: &CompiledMask, text: &str| -> String {
                mask.regex
                    .replace_all(text, Expand(&mask.template))
                    .into_owned()
            };
            let flagged = matching(&original);
            let mut masked = original.clone();
            for (mask, _) in self.masks.iter().zip(&flagged).filter(|(_, f)| **f) {
                masked = replace(mask, &masked);
            }
            if masked == original {
                return original;
            }
            let missed = matching(&masked)
                .iter()
                .zip(&flagged)
                .any(|(now, before)| *now && !before);
            if !missed {
                return masked;
            }
            // Every mask in order, each on the previous one's output.
            let mut text = original;
            for mask in &self.masks {
                text = replace(mask, &text);
            }
            text
        }
    }

    /// Text rich in what the built-in masks look at: digits, hex, separators,
    /// quotes, units, month names, non-ASCII word chars (letters, a
    /// non-ASCII digit, a combining mark, a joiner), non-ASCII whitespace.
    fn mask_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            "[0-9]{1,6}",
            "[0-9a-fA-F]{1,14}",
            "[a-zA-Z_]{1,6}",
            "[a-z]{1,3}[0-9]{1,5}[a-z0-9]{0,4}",
            "[ ._:#/@?&=\\-]",
            "[\"'`\n]",
            // Structured values and near misses of them.
            "[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,3})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?",
            "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{0,2})?)?[Z+-]?[0-9]{0,2}:?[0-9]{0,3}",
            "[0-9]{2,5}-[0-9]{1,3}-[0-9]{1,3}([T ][0-9]{1,3}:[0-9]{1,3}(:[0-9]{1,3}([.,][0-9]{0,3})?)?([Z+-][0-9]{0,3}:?[0-9]{0,3})?)?",
            "[0-9]{1,4}(\\.[0-9]{1,4}){2,4}(:[0-9]{0,6})?",
            "[0-9a-fA-F]{7,9}(-[0-9a-fA-F]{3,5}){3}-[0-9a-fA-F]{11,13}",
            "-?[0-9]{1,3}(\\.[0-9]{1,3}){0,3}",
            proptest::sample::select(vec![
                " ",
                " ",
                " ",
                ".",
                "-",
                "0x",
                "0X",
                "ms",
                " s",
                "h",
                "KB",
                "kb",
                "bytes",
                "Jan",
                "Dec",
                "é",
                "٣",
                "\u{301}",
                "\u{200D}",
                "\u{A0}",
                "µs",
                "日本",
                "::",
                "[",
                "]",
                "255",
                "256",
                "010",
                "1.2.3.4",
                "://",
                "/home/",
                "/tmp/",
                "user_",
                "order",
                "sess-",
                "cart:",
                "#",
                "E11000",
                "utf-8",
                "v1.2",
                "5\u{A0}Jan 2026",
                "3µs",
                "2\u{A0}ms",
                "4\u{2009}KB",
                "Mon, 05 Jan 2026 12:34:56 GMT",
                "12:34:56",
                "2026-01-05T12:34:56Z",
                "bob.smith+x@mail.example.co.uk",
                "[::1]:8080",
                "fe80::1",
                "2001:db8::8a2e:370:7334",
                "https://bob:pw@db.example/x?q=1&page=2",
                "3b241101-e2bb-4255-8caf-4136c566a962",
                "Zbytes",
                "1h30m",
                "/var/folders/xy/abc/T/",
                "2026-01-05",
                "2026-01-05 12:34",
                "T",
                "Z",
                "+01:00",
                "-0530",
                "+01:",
                ".789",
                ",5",
                "05/01/2026",
                "9:05\u{A0}PM",
                "1.5 s",
            ])
            .prop_map(String::from),
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..14).prop_map(|pieces| pieces.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// The fast paths must equal the former, regex-only implementation.
        #[test]
        fn fast_masking_equals_the_former_implementation(
            words in proptest::collection::vec(
                proptest::prop_oneof![
                    "[a-z]{1,8}",
                    "[0-9]{1,12}",
                    "[0-9a-f]{6,12}",
                    "[a-z]{2,5}[_:-][0-9a-z]{1,6}",
                    "'[a-z ]{0,6}'",
                    "[0-9]{1,3}(\\.[0-9]{1,3}){3}(:[0-9]{2,4})?",
                    "[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?",
                    "[0-9]{1,4}(ms|s|MB| minutes)",
                    "(https?://[a-z.]{3,10}/[a-z0-9/]{0,10}(\\?[a-z]=[a-z0-9]{1,4})?)",
                    "[<>()\\[\\]{}#=/.,;-]{1,3}",
                    proptest::prelude::any::<String>(),
                ],
                0..12,
            )
        ) {
            let message = words.join(" ");
            proptest::prop_assert_eq!(signer().mask(&message), signer().mask_reference(&message));
        }

        #[test]
        fn fast_masking_equals_the_former_implementation_on_dense_text(text in mask_text()) {
            proptest::prop_assert_eq!(signer().mask(&text), signer().mask_reference(&text));
        }

        /// Each built-in mask alone: its cheap test never rules out a match,
        /// and its fast path replaces exactly like its regex.
        #[test]
        fn builtin_masks_equal_their_regexes(text in mask_text()) {
            for mask in &signer().masks {
                let builtin = mask.builtin.expect("default masks are built in");
                let expected = mask.regex.replace_all(&text, Expand(&mask.template));
                if mask.regex.is_match(&text) {
                    proptest::prop_assert!(
                        builtin.may_match(ByteClasses::of(&text), &text),
                        "{:?} ruled out a match in {:?}", builtin, text
                    );
                }
                let mut out = String::new();
                let replaced = mask.replace(&text, &mut out, &mut Edits::default());
                proptest::prop_assert_eq!(
                    if replaced { &out } else { &text },
                    &*expected,
                    "{:?} on {:?}", builtin, text
                );
                proptest::prop_assert_eq!(replaced, mask.regex.is_match(&text));
                proptest::prop_assert_eq!(
                    mask.is_match(ByteClasses::of(&text), &text),
                    mask.regex.is_match(&text)
                );
            }
        }
    }

    #[test]
    fn builtin_masks_match_like_their_regexes() {
        let cases = [
            "a 'b' c'd' \"e\"f `g\nh` 'i''j' é'k'é '' ' x",
            "x-3b241101-e2bb-4255-8caf-4136c566a962 3b241101-e2bb-4255-8caf-4136c566a962_              é3b241101-e2bb-4255-8caf-4136c566a962 3b241101-e2bb-4255-8caf-4136c566a962é",
            "1.2.3.4 255.255.255.255 256.1.1.1 01.2.3.4 1.2.3.4.5 1.2.3.4:80 1.2.3.4:123456 \
             1.2.3.4:80a 1.2.3.4a 999.1.2.3.4 a1.2.3.4 1.2.3.4:",
            "-1 a-1 (-1) 1.2.3 1.2.3a 1a 1.2a .5 x.5 é5 5é ٣5 -5 --5 1-2 5\u{301} 12:34",
            "0x1F 0X 0x 0xg 1234567 abcdef1 abcdefa 1234567_ é1234567 0x1fé",
            "user_12345 order7781 cart:42 sess-a8f3k2j9q1 ab_cd12 ab_cd_1x E11000 a_1234-b_5678 \
             Ab#12 aB:1 x_1 x-1y xY_z9 user_1234é é_user1234 _a1234 __a-9z",
            "a8f3k2j9q1x7 a8f3k2j9q1 a8f3k2j9q abcdefghij1_ 12345678901",
            "took 5µs, 3\u{A0}ms, 4\u{2009}KB on 5\u{A0}Jan\u{A0}2026 and 12\u{2003}Feb 2026 \
             at 9:05\u{A0}PM or 10:11:12\u{A0}pm, 7 µs, 1.5\u{A0}s, 2.5µs",
        ];
        for text in cases {
            for mask in &signer().masks {
                let builtin = mask.builtin.expect("built in");
                let expected = mask.regex.replace_all(text, Expand(&mask.template));
                let mut out = String::new();
                let replaced = mask.replace(text, &mut out, &mut Edits::default());
                let fast = if replaced { out.as_str() } else { text };
                assert_eq!(fast, &*expected, "{builtin:?} on {text:?}");
                if mask.regex.is_match(text) {
                    assert!(
                        builtin.may_match(ByteClasses::of(text), text),
                        "{builtin:?} on {text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_default_mask_is_built_in_and_others_are_not() {
        for rule in default_masks() {
            assert!(
                Builtin::for_pattern(&rule.pattern).is_some(),
                "{}",
                rule.name
            );
        }
        assert_eq!(Builtin::for_pattern("[0-9]+"), None);
    }

    #[test]
    fn signer_is_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Signer>();
    }

    #[test]
    fn frames_cache_keys_on_everything_normalization_reads() {
        let signer = Signer::new(&SignatureConfig::default()).expect("compiles");
        let base = event(Some("E"), "m", app_frames(10));
        let id = |e: &Event| signer.sign(e).id;
        let first = id(&base);
        assert_eq!(id(&base), first, "a hit gives the same id");
        let mut vendor = base.clone();
        vendor.frames[2].in_app = Some(false);
        let mut renamed = base.clone();
        renamed.frames[2].function = Some("loadAccount".to_owned());
        let mut moved = base.clone();
        moved.frames[2].filename = Some("/srv/app/src/services/account.js".to_owned());
        let mut module = base.clone();
        module.frames[2].module = Some("app.services".to_owned());
        for changed in [vendor, renamed, moved, module] {
            let fresh = Signer::new(&SignatureConfig::default()).expect("compiles");
            assert_eq!(id(&changed), fresh.sign(&changed).id);
            assert_ne!(id(&changed), first);
        }
        assert!(signer.frames.len() >= 5);
    }

    #[test]
    fn title_cache_keeps_the_first_title_and_stays_bounded() {
        let signer = Signer::new(&SignatureConfig::default()).expect("compiles");
        let first = signer.sign(&event(Some("TypeError"), "x of user 1", app_frames(10)));
        let second = signer.sign(&event(Some("TypeError"), "other words", app_frames(99)));
        assert_eq!(first.id, second.id);
        assert_eq!(second.title, "TypeError: x of user <n>");
        // A fresh signer computes the title of the event it sees first.
        let fresh = Signer::new(&SignatureConfig::default()).expect("compiles");
        let sig = fresh.sign(&event(Some("TypeError"), "other words", app_frames(99)));
        assert_eq!(sig.title, "TypeError: other words");
        for n in 0..TITLE_CACHE_ENTRIES + 10 {
            let mut e = event(Some("E"), "m", vec![]);
            e.fingerprint = Some(vec![n.to_string()]);
            signer.sign(&e);
        }
        assert!(signer.titles.len() <= TITLE_CACHE_ENTRIES);
    }

    #[test]
    fn invalid_mask_names_the_mask() {
        let cfg = SignatureConfig {
            masks: vec![rule("ok", "a", "b"), rule("broken", "(", "x")],
            ..SignatureConfig::default()
        };
        let error = Signer::new(&cfg).expect_err("invalid pattern");
        let text = error.to_string();
        assert!(text.contains("`broken`"), "{text}");
        assert!(text.contains("unclosed group"), "{text}");
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn config_deserializes_with_defaults() {
        let cfg: SignatureConfig = serde_json::from_str(r#"{"max_frames": 4}"#).expect("json");
        assert_eq!(cfg.max_frames, 4);
        assert_eq!(cfg.max_title_chars, 200);
        assert_eq!(cfg.masks, default_masks());
    }

    #[test]
    fn digit_containing_run_is_exact() {
        let re = Regex::new(&format!(
            "^(?:{})$",
            digit_containing_run("[a-z]", "[a-z0-9]", 4)
        ))
        .expect("regex");
        for yes in ["1abc", "a1bc", "ab1c", "abc1", "abcd1", "1234"] {
            assert!(re.is_match(yes), "{yes}");
        }
        for no in ["abc", "abcd", "a1b", "12"] {
            assert!(!re.is_match(no), "{no}");
        }
    }

    // --- types and titles ------------------------------------------------

    #[test]
    fn infers_exception_types() {
        assert_eq!(
            infer_exception_type("Uncaught TypeError: x"),
            Some("TypeError")
        );
        assert_eq!(infer_exception_type("ValueError: bad"), Some("ValueError"));
        assert_eq!(infer_exception_type("KeyError"), Some("KeyError"));
        assert_eq!(
            infer_exception_type("java.lang.IllegalStateException: no"),
            Some("java.lang.IllegalStateException")
        );
        assert_eq!(
            infer_exception_type("Exception in thread \"main\" java.io.IOException: x"),
            Some("java.io.IOException")
        );
        assert_eq!(infer_exception_type("GoPanic: x"), Some("GoPanic"));
        assert_eq!(infer_exception_type("Warning: x"), None);
        assert_eq!(infer_exception_type("Something Error: x"), None);
        assert_eq!(infer_exception_type("payment failed"), None);
        assert_eq!(infer_exception_type(""), None);
    }

    #[test]
    fn title_uses_inferred_type_without_repeating_it() {
        let sig = signer().sign(&event(
            None,
            "TypeError: x is undefined for user 42",
            vec![],
        ));
        assert_eq!(sig.title, "TypeError: x is undefined for user <n>");
        let sig = signer().sign(&event(Some("TypeError"), "TypeError: x", vec![]));
        assert_eq!(sig.title, "TypeError: x");
        let sig = signer().sign(&event(None, "", vec![]));
        assert_eq!(sig.title, "Error");
    }

    #[test]
    fn title_truncation_is_char_safe() {
        let cfg = SignatureConfig {
            max_title_chars: 10,
            ..SignatureConfig::default()
        };
        let signer = Signer::new(&cfg).expect("compiles");
        let sig = signer.sign(&event(Some("E"), "日本語のメッセージです", vec![]));
        assert_eq!(sig.title, "E: 日本語のメッ…");
        assert_eq!(sig.title.chars().count(), 10);
        assert_eq!(truncate_chars("abc".to_owned(), 0), "");
        assert_eq!(truncate_chars("abc".to_owned(), 3), "abc");
    }

    // --- rules -------------------------------------------------------------

    fn app_frames(crash_line: u32) -> Vec<Frame> {
        vec![
            frame("/srv/app/node_modules/express/lib/router.js", "handle", 10),
            frame(
                "/srv/app/src/routes/users.js",
                "Object.getUser",
                crash_line + 7,
            ),
            frame("/srv/app/src/services/user.js", "loadUser", crash_line),
        ]
    }

    #[test]
    fn frames_rule_ignores_lines_and_message() {
        let a = signer().sign(&event(Some("TypeError"), "x of user 1", app_frames(10)));
        let b = signer().sign(&event(
            Some("TypeError"),
            "totally different",
            app_frames(99),
        ));
        assert_eq!(a.basis, SignatureBasis::Frames);
        assert_eq!(a.id, b.id);
        assert_eq!(a.culprit.as_deref(), Some("services/user.js in loadUser"));
        let c = signer().sign(&event(Some("RangeError"), "x of user 1", app_frames(10)));
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn frames_rule_needs_an_in_app_frame() {
        let vendor = vec![frame("/app/node_modules/x/index.js", "f", 1)];
        let sig = signer().sign(&event(Some("Error"), "boom", vendor.clone()));
        assert_eq!(sig.basis, SignatureBasis::Message);
        let explicit = vec![Frame {
            in_app: Some(true),
            ..vendor[0].clone()
        }];
        assert_eq!(
            signer().sign(&event(Some("Error"), "boom", explicit)).basis,
            SignatureBasis::Frames
        );
    }

    #[test]
    fn raw_stack_is_parsed_when_frames_are_absent() {
        let mut e = event(None, "", vec![]);
        e.raw_stack = Some("TypeError: a is null\n    at f (/srv/app/src/a.js:3:4)".to_owned());
        let sig = signer().sign(&e);
        assert_eq!(sig.basis, SignatureBasis::Frames);
        assert_eq!(sig.title, "TypeError: a is null");
        assert_eq!(sig.culprit.as_deref(), Some("src/a.js in f"));
    }

    #[test]
    fn message_rule_uses_logger_call_site() {
        let mut a = event(Some("Error"), "payment 42 failed", vec![]);
        a.module = Some("app.payments".to_owned());
        a.function = Some("charge".to_owned());
        let mut b = a.clone();
        b.message = "payment 97 failed".to_owned();
        let mut c = a.clone();
        c.function = Some("refund".to_owned());
        let (sa, sb, sc) = (signer().sign(&a), signer().sign(&b), signer().sign(&c));
        assert_eq!(sa.basis, SignatureBasis::Message);
        assert_eq!(sa.id, sb.id);
        assert_ne!(sa.id, sc.id);
        assert_eq!(sa.culprit.as_deref(), Some("app.payments in charge"));
    }

    #[test]
    fn fingerprint_wins_and_default_expands() {
        let plain = event(Some("TypeError"), "x", app_frames(10));
        let default_id = signer().sign(&plain).id;

        let mut custom = plain.clone();
        custom.fingerprint = Some(vec!["checkout-timeout".to_owned()]);
        let custom_sig = signer().sign(&custom);
        assert_eq!(custom_sig.basis, SignatureBasis::Fingerprint);
        assert_ne!(custom_sig.id, default_id);
        let mut other = event(Some("ValueError"), "y", vec![]);
        other.fingerprint = custom.fingerprint.clone();
        assert_eq!(signer().sign(&other).id, custom_sig.id);

        let mut only_default = plain.clone();
        only_default.fingerprint = Some(vec!["{{ default }}".to_owned()]);
        let sig = signer().sign(&only_default);
        assert_eq!(sig.basis, SignatureBasis::Fingerprint);
        assert_eq!(sig.id, default_id);

        let mut extended = plain.clone();
        extended.fingerprint = Some(vec!["{{default}}".to_owned(), "tenant-a".to_owned()]);
        assert_ne!(signer().sign(&extended).id, default_id);

        let mut empty = plain;
        empty.fingerprint = Some(vec![]);
        assert_eq!(signer().sign(&empty).basis, SignatureBasis::Frames);
    }

    /// Pins the component encoding and the hash: stored groups are keyed by
    /// these ids, so they must not change by accident between builds,
    /// versions or platforms. Changing a rule on purpose updates this value.
    #[test]
    fn ids_are_stable() {
        let mut components = Components::new();
        components.push(Tag::Fingerprint, "checkout-timeout");
        assert_eq!(components.id(), "a52baa9b77d4b9c2");
        assert_eq!(components.id(), format!("{:016x}", xxh3_64(&components.0)));
    }

    #[test]
    fn component_boundaries_are_unambiguous() {
        let fp = |parts: &[&str]| {
            let event = Event {
                fingerprint: Some(parts.iter().map(|p| (*p).to_owned()).collect()),
                ..Event::default()
            };
            signer().sign(&event).id
        };
        assert_ne!(fp(&["ab", "c"]), fp(&["a", "bc"]));
        let id = fp(&["a"]);
        assert_eq!(id.len(), 16);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    // --- normalization ---------------------------------------------------------

    fn normalize_path(raw: &str) -> String {
        written(|out| write_path(out, raw))
    }

    fn normalize_function(raw: Option<&str>) -> String {
        written(|out| write_function(out, raw))
    }

    fn normalize_symbol(raw: &str) -> String {
        written(|out| write_symbol(out, raw))
    }

    #[test]
    fn paths_keep_their_project_relative_tail() {
        let cases = [
            (
                "https://cdn-2.example.com/static/js/main.3f2a9c1b.js?v=3#x",
                "js/main.<hash>.js",
            ),
            (
                "https://shop.example/assets/index-DiwrgTda.js",
                "assets/index-<hash>.js",
            ),
            ("/assets/chunk-ABCD1234.js", "assets/chunk-<hash>.js"),
            (
                "webpack:///./src/components/Cart.tsx",
                "components/Cart.tsx",
            ),
            ("/home/alice/shop/app.py", "shop/app.py"),
            ("/home/alice/app.py", "app.py"),
            ("/Users/bob/code/shop/src/app.py", "src/app.py"),
            (r"C:\Users\bob\app.js", "app.js"),
            ("file:///C:/Users/bob/app.js", "app.js"),
            ("/srv/shop/releases/20260101120000/user.rb", "user.rb"),
            ("/tmp/xyz/script.py", "script.py"),
            ("/var/tmp/xyz/script.py", "script.py"),
            ("/private/var/folders/ab/cd12/T/run.py", "run.py"),
            ("/opt/builds/2c1f9e3a7b/server.js", "<hash>/server.js"),
            ("/usr/src/app/Base64Decoder.js", "app/Base64Decoder.js"),
            ("/app/shop/cli.py", "shop/cli.py"),
            ("", ""),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_path(raw), expected, "path: {raw}");
        }
    }

    #[test]
    fn function_names_are_normalized() {
        let cases = [
            ("Object.getUser", "getUser"),
            ("async getUser", "getUser"),
            ("new UserService", "UserService"),
            ("Router.handle [as handle_request]", "handle"),
            ("Object.<anonymous>", "<anon>"),
            ("<lambda>", "<anon>"),
            ("", "<anon>"),
            ("render/<", "render/<anon>"),
            ("render/</<", "render/<anon>"),
            ("lambda$main$0", "lambda$main$<n>"),
            ("lambda$main$12", "lambda$main$<n>"),
            ("main.func1", "func<n>"),
            ("(*Cart).Add.func2", "(*Cart).Add.func<n>"),
            ("<Main>b__0_1", "<Main>b__<n>_<n>"),
            ("closure #3 in run", "closure #<n> in run"),
            ("handler2", "handler2"),
            ("<module>", "<module>"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_function(Some(raw)), expected, "function: {raw}");
        }
        assert_eq!(normalize_function(None), "<anon>");
    }

    #[test]
    fn symbols_mask_synthetic_parts() {
        assert_eq!(normalize_symbol("com.acme.Bar$1"), "com.acme.Bar$<n>");
        assert_eq!(
            normalize_symbol("com.acme.Svc$$EnhancerBySpringCGLIB$$3f2a9c1b"),
            "com.acme.Svc$$EnhancerBySpringCGLIB$$<n>"
        );
        assert_eq!(
            normalize_symbol("com.acme.Svc$$Lambda$123/0x0000000800c4b040"),
            "com.acme.Svc$$Lambda$<n>/<n>"
        );
        assert_eq!(normalize_symbol("app.views"), "app.views");
    }

    fn collapsed(functions: &str) -> String {
        let frames: Vec<Frame> = functions
            .chars()
            .map(|f| frame("/app/src/x.js", &f.to_string(), 1))
            .collect();
        GroupFrames::collect(frames.iter().map(FrameRef::from), 100)
            .iter()
            .map(|(_, function)| function)
            .collect()
    }

    #[test]
    fn recursion_depth_is_collapsed() {
        assert_eq!(collapsed("abbbc"), "abc");
        assert_eq!(collapsed("abcbcbcd"), "abcd");
        assert_eq!(collapsed("abcdbcdbcde"), "abcde");
        assert_eq!(collapsed("abac"), "abac");
        assert_eq!(collapsed("aaaa"), "a");
    }

    #[test]
    fn max_frames_keeps_the_innermost() {
        let cfg = SignatureConfig {
            max_frames: 2,
            ..SignatureConfig::default()
        };
        let signer = Signer::new(&cfg).expect("compiles");
        let mut deep = app_frames(10);
        deep.insert(0, frame("/srv/app/src/index.js", "main", 1));
        let shallow = app_frames(10);
        assert_eq!(
            signer.sign(&event(Some("E"), "", deep)).id,
            signer.sign(&event(Some("E"), "", shallow)).id
        );
    }
}
