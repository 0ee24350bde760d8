//! Grouping: turns an [`Event`] into a [`Signature`], the key under which
//! occurrences of one bug are counted together.
//!
//! Three rules, first match wins (see [`Signer::sign`]):
//! 1. an explicit fingerprint from the sender;
//! 2. the exception type plus the innermost in-app frames, normalized so that
//!    what changes between occurrences of one bug (line numbers after a
//!    redeploy, bundle hashes, machine-specific path prefixes, recursion
//!    depth, synthetic closure ids) does not split its group;
//! 3. the exception type plus the message with its variable parts masked
//!    (ids, emails, addresses, times, quoted values, ...), plus the logger's
//!    call site when the sender named one.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use regex::{Captures, Regex, RegexBuilder, RegexSet, RegexSetBuilder, Replacer};

/// Lazy-DFA cache per regex and thread. The default (2 MiB) is too small for
/// the combined mask set: the cache kept being cleared and rebuilt, which
/// showed as DFA determinization at the top of the ingest profile.
const DFA_CACHE_BYTES: usize = 32 * 1024 * 1024;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::event::{Event, Frame};
use crate::stack::{self, ParsedStack};

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
}

impl Default for SignatureConfig {
    fn default() -> Self {
        Self {
            masks: default_masks(),
            max_title_chars: 200,
            max_frames: 10,
        }
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
    /// limit of the prefilter.
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

/// Computes signatures. Compiles the masks once; share one per config.
#[derive(Debug, Clone)]
pub struct Signer {
    masks: Vec<CompiledMask>,
    /// All mask patterns in one set: a single scan tells which masks can
    /// match, so a typical message runs a few replacements, not all of them.
    prefilter: RegexSet,
    max_title_chars: usize,
    max_frames: usize,
}

#[derive(Debug, Clone)]
struct CompiledMask {
    regex: Regex,
    template: Template,
}

impl CompiledMask {
    fn apply<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.regex.replace_all(text, Expand(&self.template))
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
    pub fn new(cfg: &SignatureConfig) -> Result<Self, SignatureConfigError> {
        let masks = cfg
            .masks
            .iter()
            .map(|rule| {
                let regex = RegexBuilder::new(&rule.pattern)
                    .dfa_size_limit(DFA_CACHE_BYTES)
                    .build()
                    .map_err(|error| SignatureConfigError::InvalidMask {
                        name: rule.name.clone(),
                        error,
                    })?;
                let template = Template::parse(&rule.replacement, &regex);
                Ok(CompiledMask { regex, template })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let prefilter = RegexSetBuilder::new(cfg.masks.iter().map(|m| &m.pattern))
            .dfa_size_limit(DFA_CACHE_BYTES)
            .build()
            .map_err(SignatureConfigError::MaskSetTooLarge)?;
        Ok(Self {
            masks,
            prefilter,
            max_title_chars: cfg.max_title_chars,
            // Zero frames would group every crash of a type together.
            max_frames: cfg.max_frames.max(1),
        })
    }

    /// Normalizes a message for grouping: bounded, whitespace collapsed, then
    /// every mask applied in order, each to the previous one's output.
    ///
    /// Fast path: one prefilter scan picks the masks that match the message
    /// and only those run; a second scan of the result checks that no other
    /// mask matches it now. If one does (an earlier mask created text a later
    /// mask matches, as an operator's `<n>-<n>` rule would), the message is
    /// masked again rescanning after every change, which is exactly "every
    /// mask in order". The fast path differs only if such a created match is
    /// destroyed again by a still later mask before the end.
    pub fn mask(&self, message: &str) -> String {
        let original = collapse_whitespace(bounded(message));
        if original.is_empty() {
            return original;
        }
        let flagged = self.prefilter.matches(&original);
        let mut text = Cow::Borrowed(original.as_str());
        for index in flagged.iter() {
            if let Cow::Owned(replaced) = self.masks[index].apply(&text) {
                text = Cow::Owned(replaced);
            }
        }
        // Unchanged text cannot have gained matches.
        let Cow::Owned(masked) = text else {
            return original;
        };
        let missed = self
            .prefilter
            .matches(&masked)
            .iter()
            .any(|index| !flagged.matched(index));
        if missed {
            return self.mask_rescanning(original);
        }
        masked
    }

    /// Runs every mask whose pattern matches the text as it stands at its
    /// turn, rescanning after every change.
    fn mask_rescanning(&self, mut text: String) -> String {
        let mut pending = self.prefilter.matches(&text);
        for (index, mask) in self.masks.iter().enumerate() {
            if !pending.matched(index) {
                continue;
            }
            if let Cow::Owned(replaced) = mask.apply(&text) {
                text = replaced;
                pending = self.prefilter.matches(&text);
            }
        }
        text
    }

    /// The signature of `event`. See the module docs for the rules.
    pub fn sign(&self, event: &Event) -> Signature {
        let parsed = parse_stack_if_needed(event);
        let frames = match (&event.frames[..], &parsed) {
            ([], Some(parsed)) => &parsed.frames[..],
            (frames, _) => frames,
        };
        let raw_message = effective_message(event, parsed.as_ref());
        let exception_type = normalize_type(resolve_type(event, parsed.as_ref(), raw_message));
        let masked = self.mask(strip_type_prefix(raw_message, exception_type));
        let grouping = Grouping {
            exception_type,
            masked_message: &masked,
            frames: GroupFrames::collect(frames, self.max_frames),
            logger_module: event
                .module
                .as_deref()
                .map(|m| written(|out| write_symbol(out, m))),
            logger_function: event
                .function
                .as_deref()
                .map(|f| written(|out| write_function(out, Some(f)))),
        };
        let mut components = Components::new();
        let basis = match event.fingerprint.as_deref() {
            Some(parts) if !parts.is_empty() => {
                grouping.write_fingerprint(&mut components, parts);
                SignatureBasis::Fingerprint
            }
            _ => grouping.write_default(&mut components),
        };
        Signature {
            id: components.id(),
            title: truncate_chars(title(exception_type, &masked), self.max_title_chars),
            culprit: grouping.culprit(),
            basis,
        }
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
fn parse_stack_if_needed(event: &Event) -> Option<ParsedStack> {
    let needed = event.frames.is_empty() || event.exception_type.is_none();
    event
        .raw_stack
        .as_deref()
        .filter(|_| needed)
        .map(stack::parse_stack)
}

fn effective_message<'a>(event: &'a Event, parsed: Option<&'a ParsedStack>) -> &'a str {
    if !event.message.trim().is_empty() {
        return &event.message;
    }
    parsed.and_then(|p| p.message.as_deref()).unwrap_or("")
}

/// The sender's type, else the stack's header, else a type the message
/// starts with, else `Error`.
fn resolve_type<'a>(
    event: &'a Event,
    parsed: Option<&'a ParsedStack>,
    message: &'a str,
) -> &'a str {
    event
        .exception_type
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .or_else(|| parsed.and_then(|p| p.exception_type.as_deref()))
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
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// Line breaks and indentation vary with how a message was formatted, not
/// with the bug.
fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn title(exception_type: &str, masked_message: &str) -> String {
    if masked_message.is_empty() {
        exception_type.to_owned()
    } else {
        format!("{exception_type}: {masked_message}")
    }
}

/// Cuts to at most `max` chars (not bytes, so never inside a UTF-8
/// sequence), marking the cut with an ellipsis.
fn truncate_chars(text: String, max: usize) -> String {
    if text.chars().count() <= max {
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
    frames: GroupFrames,
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
        for (location, function) in self.frames.iter() {
            components.push(Tag::Location, location);
            components.push(Tag::Function, function);
        }
    }

    /// A logger's call site is stable, so it separates equal messages logged
    /// from different places.
    fn write_message(&self, components: &mut Components) {
        components.push(Tag::Basis, "message");
        components.push(Tag::Type, self.exception_type);
        components.push(Tag::Message, self.masked_message);
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
}

/// Tagged, length-prefixed components, hashed in one xxh3 call (cheaper
/// than streaming for inputs this small). The prefixes make component
/// boundaries unambiguous (`["ab", "c"]` and `["a", "bc"]` differ); lengths
/// are little-endian u64 on every platform.
struct Components(Vec<u8>);

impl Components {
    fn new() -> Self {
        Self(Vec::with_capacity(512))
    }

    fn push(&mut self, tag: Tag, value: &str) {
        self.0.push(tag as u8);
        self.0
            .extend_from_slice(&(value.len() as u64).to_le_bytes());
        self.0.extend_from_slice(value.as_bytes());
    }

    /// The hash as 16 lowercase hex digits, most significant first.
    fn id(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let hash = xxh3_64(&self.0);
        (0..16)
            .rev()
            .map(|nibble| char::from(DIGITS[((hash >> (nibble * 4)) & 0xf) as usize]))
            .collect()
    }
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
}

/// Repeated runs of up to this many frames are collapsed.
const MAX_CYCLE: usize = 3;

impl GroupFrames {
    /// Normalizes the in-app frames (`in_app`, else [`stack::guess_in_app`]),
    /// collapses recursion, and keeps the innermost `max_frames`.
    fn collect(frames: &[Frame], max_frames: usize) -> Self {
        let mut collected = Self {
            text: String::with_capacity(64 * frames.len()),
            frames: Vec::with_capacity(frames.len()),
        };
        for frame in frames {
            if frame.in_app.unwrap_or_else(|| stack::guess_in_app(frame)) {
                collected.push(frame);
                collected.collapse_repeat();
            }
        }
        let excess = collected.frames.len().saturating_sub(max_frames);
        collected.frames.drain(..excess);
        collected
    }

    fn push(&mut self, frame: &Frame) {
        let start = self.text.len();
        match (
            frame.module.as_deref().filter(|m| !m.is_empty()),
            frame.filename.as_deref(),
        ) {
            (Some(module), _) => write_symbol(&mut self.text, module),
            (None, Some(file)) => write_path(&mut self.text, file),
            (None, None) => {}
        }
        let middle = self.text.len();
        write_function(&mut self.text, frame.function.as_deref());
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
    let path = strip_url(raw.trim());
    let path = match path.bytes().position(|b| b == b'?' || b == b'#') {
        Some(end) => &path[..end],
        None => path,
    };
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
    for segment in path.split(['/', '\\']) {
        if segment.is_empty() || segment == "." {
            continue;
        }
        if count == MAX_SEGMENTS {
            buffer.copy_within(1.., 0);
            count -= 1;
        }
        buffer[count] = segment;
        count += 1;
    }
    &buffer[..count]
}

/// `https://cdn.example/static/app.js` → `/static/app.js`: the same bundle is
/// served from many hosts (CDNs, staging, customers' domains).
/// `webpack:///./src/x.js` and `file:///home/x.js` have empty hosts.
fn strip_url(path: &str) -> &str {
    // The char search is a memchr; most paths have no colon at all.
    if !path.contains(':') {
        return path;
    }
    let Some(scheme_end) = path.find("://") else {
        return path;
    };
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
    let name = function.unwrap_or("").trim();
    // `find(char)` is a memchr; most names have no bracket at all.
    let name = match name.find('[') {
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
    let Some(dot) = name.rfind('.') else {
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

    proptest::proptest! {
        /// The fast path (one prefilter scan, one check) must equal running
        /// every default mask in order with a rescan after each change.
        #[test]
        fn fast_masking_equals_rescanning(
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
            let signer = signer();
            let collapsed = collapse_whitespace(bounded(&message));
            proptest::prop_assert_eq!(signer.mask(&message), signer.mask_rescanning(collapsed));
        }
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
        GroupFrames::collect(&frames, 100)
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
