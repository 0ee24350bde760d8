//! Pure stack-string parsing.
//!
//! Senders often give only the text of a stack (`error.stack`, a Python
//! traceback, a JVM `printStackTrace`), not structured frames. Grouping needs
//! frames, so this module turns the common text formats into [`Frame`]s in the
//! Sentry order the rest of the engine uses: oldest call first, crashing frame
//! last. V8, Firefox, Safari, the JVM and Go print the crashing frame first, so
//! their frames are reversed; Python already prints it last.
//!
//! Parsing is best effort and total: lines that match no known format are
//! skipped, and no input makes it panic (the property tests feed it arbitrary
//! strings), because stack text is untrusted.

use crate::domain::event::Frame;

/// What a stack string says: the exception's type and message when the text
/// carries them (V8 and JVM headers, Python's last line, Go's `panic:`), and
/// its frames, oldest call first, crashing frame last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedStack {
    pub exception_type: Option<String>,
    pub message: Option<String>,
    pub frames: Vec<Frame>,
}

/// A parsed frame borrowing its strings from the stack text: parsing for
/// grouping allocates no string per frame (or per line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FrameRef<'a> {
    pub filename: Option<&'a str>,
    pub function: Option<&'a str>,
    pub module: Option<&'a str>,
    pub lineno: Option<u32>,
    pub colno: Option<u32>,
    pub in_app: Option<bool>,
}

impl FrameRef<'_> {
    fn to_frame(self) -> Frame {
        Frame {
            filename: self.filename.map(str::to_owned),
            function: self.function.map(str::to_owned),
            module: self.module.map(str::to_owned),
            lineno: self.lineno,
            colno: self.colno,
            in_app: self.in_app,
        }
    }
}

impl<'a> From<&'a Frame> for FrameRef<'a> {
    fn from(frame: &'a Frame) -> Self {
        Self {
            filename: frame.filename.as_deref(),
            function: frame.function.as_deref(),
            module: frame.module.as_deref(),
            lineno: frame.lineno,
            colno: frame.colno,
            in_app: frame.in_app,
        }
    }
}

/// [`ParsedStack`] borrowing from the stack text. [`parse_stack`] is this,
/// converted to owned strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StackRef<'a> {
    pub exception_type: Option<&'a str>,
    pub message: Option<&'a str>,
    pub frames: Vec<FrameRef<'a>>,
}

/// The line that opens every Python traceback.
const PYTHON_MARKER: &str = "Traceback (most recent call last):";

/// Parses a stack string in any supported format (V8/Node, Firefox/Safari,
/// Python, JVM, Go). Never panics; unknown lines are skipped.
pub fn parse_stack(stack: &str) -> ParsedStack {
    let parsed = parse_stack_ref(stack);
    ParsedStack {
        exception_type: parsed.exception_type.map(str::to_owned),
        message: parsed.message.map(str::to_owned),
        frames: parsed.frames.into_iter().map(FrameRef::to_frame).collect(),
    }
}

/// [`parse_stack`] without copying: what grouping uses.
pub(crate) fn parse_stack_ref(stack: &str) -> StackRef<'_> {
    // A chained Python traceback prints the cause first and the exception that
    // was finally raised last, so the last traceback is the one to report.
    // (`contains` of the marker's head is a fast vectorized search, which
    // `rfind` of the whole marker is not: it only runs on a hit.)
    let python = stack
        .contains(&PYTHON_MARKER[..32])
        .then(|| rfind_short(stack, PYTHON_MARKER))
        .flatten();
    if let Some(start) = python {
        return parse_python(&stack[start + PYTHON_MARKER.len()..]);
    }
    if is_go_panic(stack) {
        return parse_go(stack);
    }
    parse_crash_first(stack)
}

/// Guesses whether a frame is the application's own code, for frames whose
/// sender did not say. Vendored packages, standard libraries, runtime
/// internals and frames without any location are not in-app, because a bug
/// is grouped by where the application's code was when it crashed.
pub fn guess_in_app(frame: &Frame) -> bool {
    guess_in_app_parts(frame.filename.as_deref(), frame.module.as_deref())
}

/// [`guess_in_app`] on a frame's file and module.
pub(crate) fn guess_in_app_parts(file: Option<&str>, module: Option<&str>) -> bool {
    let file = file.filter(|f| !f.is_empty());
    let module = module.filter(|m| !m.is_empty());
    if file.is_none() && module.is_none() {
        return false;
    }
    !file.is_some_and(is_library_path) && !module.is_some_and(is_library_module)
}

/// Path fragments of dependencies, standard libraries and runtimes.
const LIBRARY_PATH_FRAGMENTS: [&str; 8] = [
    "node_modules",
    "site-packages",
    "dist-packages",
    "/usr/lib/",
    "/usr/local/lib/",
    "/usr/local/go/",
    "/go/pkg/mod/",
    "<frozen",
];

/// Path prefixes of runtime internals and browser extensions (an
/// extension's script is not the page's code).
const LIBRARY_PATH_PREFIXES: &[&str] = &[
    "node:",
    "internal/",
    "chrome-extension://",
    "moz-extension://",
    "safari-extension://",
    "safari-web-extension://",
];

/// What runtimes print instead of a file for native or generated code.
const FILELESS_MARKERS: &[&str] = &["<anonymous>", "native", "[native code]", "<unknown>"];

fn is_library_path(path: &str) -> bool {
    let path = trim(path);
    FILELESS_MARKERS.contains(&path)
        || LIBRARY_PATH_PREFIXES.iter().any(|p| path.starts_with(p))
        || has_library_fragment(path)
}

/// Whether `path` contains one of [`LIBRARY_PATH_FRAGMENTS`]. Every
/// fragment has one of the [`ANCHORS`]: one scan finds those bytes, and only
/// the fragments anchored on the byte found are compared there (this runs
/// for every frame of every event; a regex, or a substring search per
/// fragment, costs several times more on these short strings).
fn has_library_fragment(path: &str) -> bool {
    let bytes = path.as_bytes();
    let anchors = |word| {
        bytes_equal(word, ANCHORS[0])
            | bytes_equal(word, ANCHORS[1])
            | bytes_equal(word, ANCHORS[2])
            | bytes_equal(word, ANCHORS[3])
    };
    any_flagged(
        bytes,
        anchors,
        |b| ANCHORS.contains(&b),
        |anchor| {
            LIBRARY_PATH_FRAGMENTS
                .iter()
                .zip(FRAGMENT_ANCHORS)
                .any(|(fragment, offset)| {
                    fragment.as_bytes()[offset] == bytes[anchor]
                        && anchor >= offset
                        && bytes[anchor - offset..].starts_with(fragment.as_bytes())
                })
        },
    )
}

/// Bytes that every library fragment has at least one of.
const ANCHORS: [u8; 4] = [b'/', b'_', b'-', b'<'];

/// Where each library fragment's first anchor byte is.
const FRAGMENT_ANCHORS: [usize; LIBRARY_PATH_FRAGMENTS.len()] = {
    let mut offsets = [0; LIBRARY_PATH_FRAGMENTS.len()];
    let mut index = 0;
    while index < LIBRARY_PATH_FRAGMENTS.len() {
        let fragment = LIBRARY_PATH_FRAGMENTS[index].as_bytes();
        let mut offset = 0;
        while !matches!(fragment[offset], b'/' | b'_' | b'-' | b'<') {
            // Out of bounds (a compile error) if a fragment has no anchor.
            offset += 1;
        }
        offsets[index] = offset;
        index += 1;
    }
    offsets
};

/// JVM standard-library packages (Kotlin's and Scala's too: they ship with
/// every application and never hold its bugs).
const LIBRARY_MODULE_PREFIXES: &[&str] = &[
    "java.", "javax.", "sun.", "jdk.", "com.sun.", "kotlin.", "kotlinx.", "scala.",
];

fn is_library_module(module: &str) -> bool {
    LIBRARY_MODULE_PREFIXES
        .iter()
        .any(|p| module.starts_with(p))
}

// ---------------------------------------------------------------------------
// Headers: "TypeError: msg", "java.lang.X: msg", "panic: msg", "KeyError"
// ---------------------------------------------------------------------------

/// Prefixes that consoles and runtimes put before the `Type: message` header.
const HEADER_PREFIXES: &[&str] = &["Uncaught (in promise) ", "Uncaught "];

/// Splits a header line into its exception type (when it starts with a
/// dotted identifier followed by `: `, or is one) and its message.
fn split_header(line: &str) -> (Option<&str>, &str) {
    let line = strip_header_prefix(trim(line));
    if let Some((head, rest)) = split_once_short(line, ": ") {
        if is_type_name(head) {
            return (Some(head), trim(rest));
        }
    }
    match line.strip_suffix(':') {
        Some(head) if is_type_name(head) => (Some(head), ""),
        _ if is_type_name(line) => (Some(line), ""),
        _ => (None, line),
    }
}

/// Removes `Uncaught ` (browsers) and `Exception in thread "main" ` (the JVM).
pub(crate) fn strip_header_prefix(line: &str) -> &str {
    let mut line = line;
    for prefix in HEADER_PREFIXES {
        line = line.strip_prefix(prefix).unwrap_or(line);
    }
    if let Some(rest) = line.strip_prefix("Exception in thread \"") {
        if let Some((_, after)) = split_once_short(rest, "\" ") {
            return after;
        }
    }
    line
}

/// A dotted identifier: `TypeError`, `java.lang.IllegalStateException`,
/// `requests.exceptions.HTTPError`, `Outer$Inner`.
pub(crate) fn is_type_name(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identifier)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn set_header<'a>(parsed: &mut StackRef<'a>, line: &'a str) {
    let (exception_type, message) = split_header(line);
    parsed.exception_type = exception_type;
    parsed.message = Some(message).filter(|m| !m.is_empty());
}

// ---------------------------------------------------------------------------
// V8 / Firefox / Safari / JVM: crashing frame first
// ---------------------------------------------------------------------------

/// Parses formats that print the crashing frame first. The first line is the
/// header unless it is itself a frame (Firefox and Safari stacks have no
/// header). A JVM `Caused by:` or `Suppressed:` block ends the parse: only
/// the first exception block is reported, as it is the one that was thrown.
fn parse_crash_first(stack: &str) -> StackRef<'_> {
    let mut parsed = StackRef {
        frames: Vec::with_capacity(16),
        ..StackRef::default()
    };
    let lines = lines(stack).map(trim).filter(|l| !l.is_empty());
    for (index, line) in lines.enumerate() {
        if let Some(frame) = parse_frame_line(line) {
            parsed.frames.push(frame);
        } else if index == 0 {
            set_header(&mut parsed, line);
        } else if !parsed.frames.is_empty() && is_cause_marker(line) {
            break;
        }
    }
    parsed.frames.reverse();
    parsed
}

fn is_cause_marker(line: &str) -> bool {
    line.starts_with("Caused by:") || line.starts_with("Suppressed:")
}

fn parse_frame_line(line: &str) -> Option<FrameRef<'_>> {
    match line.strip_prefix("at ") {
        Some(rest) => parse_at_line(trim_start(rest)),
        None => parse_at_sign_line(line),
    }
}

/// `at fn (loc)`, `at loc`, `at async fn (loc)`, `at new Foo (loc)` (V8) and
/// `at com.foo.Bar.baz(Bar.java:12)` (JVM: no space before the parenthesis).
fn parse_at_line(rest: &str) -> Option<FrameRef<'_>> {
    let rest = strip_call_markers(rest);
    let body = strip_jvm_jar_suffix(rest);
    if let Some(inner) = body.strip_suffix(')') {
        if let Some((function, location)) = split_once_short(inner, " (") {
            return v8_frame(Some(function), location);
        }
        if let Some((qualified, location)) = inner.split_once('(') {
            return jvm_frame(qualified, location);
        }
    }
    v8_frame(None, rest)
}

/// V8 marks how a function was called (`async`, `new`); that is not part of
/// the function's name.
fn strip_call_markers(s: &str) -> &str {
    let mut s = s;
    for marker in ["async ", "new "] {
        s = s.strip_prefix(marker).unwrap_or(s);
    }
    s
}

/// Logback and Log4j append the jar to JVM frames: `(...) ~[app.jar:1.0]`.
fn strip_jvm_jar_suffix(s: &str) -> &str {
    if !s.ends_with(']') {
        return s;
    }
    s.rsplit_once(" ~[")
        .or_else(|| s.rsplit_once(" ["))
        .map_or(s, |(head, _)| head.trim_end())
}

fn v8_frame<'a>(function: Option<&'a str>, location: &'a str) -> Option<FrameRef<'a>> {
    let location = parse_js_location(location)?;
    Some(FrameRef {
        function,
        ..location
    })
}

/// A V8 location: `file:line:col`, `file:line`, or a marker for code without
/// a file (`native`, `<anonymous>`, `index 0` for `Promise.all`). `eval at f
/// (file:1:2), <anonymous>:3:4` points at the file that called `eval`.
fn parse_js_location(location: &str) -> Option<FrameRef<'_>> {
    let location = trim(location);
    if is_fileless_marker(location) {
        return Some(FrameRef::default());
    }
    if let Some(rest) = location.strip_prefix("eval at ") {
        return eval_origin(rest).and_then(parse_js_location);
    }
    parse_file_line_col(location)
}

fn is_fileless_marker(location: &str) -> bool {
    matches!(location, "native" | "<anonymous>" | "unknown location")
        || location.starts_with("index ")
}

/// The innermost parenthesised location of a (possibly nested) `eval at`.
fn eval_origin(rest: &str) -> Option<&str> {
    let open = rest.rfind('(')?;
    let inner = &rest[open + 1..];
    inner.find(')').map(|close| &inner[..close])
}

/// `file:line:col` or `file:line`. Both numbers must be numbers, so prose that
/// happens to start with "at " is not mistaken for a frame.
fn parse_file_line_col(location: &str) -> Option<FrameRef<'_>> {
    let (head, last) = rsplit_once_colon(location)?;
    let last: u32 = last.parse().ok()?;
    let (file, lineno, colno) = match rsplit_once_colon(head) {
        Some((file, line)) => match line.parse::<u32>() {
            Ok(line) => (file, line, Some(last)),
            Err(_) => (head, last, None),
        },
        None => (head, last, None),
    };
    (!file.is_empty()).then_some(FrameRef {
        filename: Some(file),
        lineno: Some(lineno),
        colno,
        ..FrameRef::default()
    })
}

/// `com.foo.Bar.baz(Bar.java:12)`, possibly prefixed by a class loader or
/// JPMS module (`java.base/java.lang.Thread.run`, `app//com.foo.Bar.baz`).
fn jvm_frame<'a>(qualified: &'a str, location: &'a str) -> Option<FrameRef<'a>> {
    let qualified = qualified.rsplit('/').next().unwrap_or(qualified);
    let (class, method) = qualified.rsplit_once('.')?;
    if !is_jvm_name(class) || !is_jvm_name(method) {
        return None;
    }
    let (filename, lineno) = match location.rsplit_once(':') {
        Some((file, line)) => (file, line.parse().ok()),
        None => (location, None),
    };
    let has_file = !matches!(filename, "Native Method" | "Unknown Source" | "");
    Some(FrameRef {
        filename: has_file.then_some(filename),
        function: Some(method),
        module: Some(class),
        lineno,
        ..FrameRef::default()
    })
}

fn is_jvm_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '.' | '<' | '>' | '-'))
}

/// Firefox and Safari: `fn@url:line:col`, `@url:line:col`,
/// `global code@url:line:col`, `forEach@[native code]`,
/// `async*fn@url:line:col`, `fn@url line 2 > eval:1:3`.
fn parse_at_sign_line(line: &str) -> Option<FrameRef<'_>> {
    let (function, location) = line.split_once('@')?;
    if split_once_short(function, ": ").is_some() || function.contains('(') {
        return None;
    }
    let mut frame = parse_gecko_location(location)?;
    // Firefox prefixes frames that follow an async boundary with `async*`.
    let function = function.rsplit('*').next().unwrap_or(function);
    frame.function = Some(function).filter(|f| !f.is_empty());
    Some(frame)
}

fn parse_gecko_location(location: &str) -> Option<FrameRef<'_>> {
    if location == "[native code]" {
        return Some(FrameRef::default());
    }
    // Code run by eval is reported against the line that called eval.
    if let Some((file, rest)) = split_once_short(location, " line ") {
        let lineno = rest.split(' ').next().and_then(|n| n.parse().ok());
        return Some(FrameRef {
            filename: Some(file),
            lineno,
            ..FrameRef::default()
        });
    }
    parse_file_line_col(location)
}

// ---------------------------------------------------------------------------
// Python: crashing frame last
// ---------------------------------------------------------------------------

/// Parses the body of one Python traceback: `File "x.py", line 3, in fn`
/// lines, indented source and caret lines (skipped), then the first
/// unindented line, `ValueError: msg`.
fn parse_python(body: &str) -> StackRef<'_> {
    let mut parsed = StackRef::default();
    for line in lines(body) {
        if let Some(frame) = parse_python_frame(line) {
            parsed.frames.push(frame);
        } else if !trim(line).is_empty() && !line.starts_with(char::is_whitespace) {
            set_header(&mut parsed, line);
            break;
        }
    }
    parsed
}

/// `  File "app/views.py", line 42, in handler`; `in fn` is absent for
/// syntax errors.
fn parse_python_frame(line: &str) -> Option<FrameRef<'_>> {
    let rest = trim_start(line).strip_prefix("File \"")?;
    let (file, rest) = split_once_short(rest, "\", line ")?;
    let (lineno, function) = match split_once_short(rest, ", in ") {
        Some((line, function)) => (line, Some(trim(function))),
        None => (rest, None),
    };
    Some(FrameRef {
        filename: Some(file),
        function,
        lineno: trim(lineno).parse().ok(),
        ..FrameRef::default()
    })
}

// ---------------------------------------------------------------------------
// Go: crashing frame first, two lines per frame
// ---------------------------------------------------------------------------

fn is_go_panic(stack: &str) -> bool {
    stack.contains("goroutine ")
        && stack
            .lines()
            .any(|l| l.starts_with("goroutine ") && l.trim_end().ends_with("]:"))
}

/// Parses the first goroutine of a Go panic: a `pkg.fn(args)` line followed
/// by a tab-indented `/path/file.go:12 +0x1d` line, per frame. Later
/// goroutines are other threads, not the crash.
fn parse_go(stack: &str) -> StackRef<'_> {
    let mut parsed = StackRef::default();
    let mut goroutines = 0;
    let mut header_seen = false;
    let mut pending: Option<FrameRef<'_>> = None;
    for line in lines(stack) {
        if line.starts_with("goroutine ") {
            goroutines += 1;
            if goroutines > 1 {
                break;
            }
        } else if let Some(location) = line.strip_prefix('\t') {
            if let Some(mut frame) = pending.take() {
                set_go_location(&mut frame, location);
                parsed.frames.push(frame);
            }
        } else if goroutines == 0 && !header_seen && !trim(line).is_empty() {
            set_header(&mut parsed, line);
            header_seen = true;
        } else {
            pending = parse_go_function(line.trim_end());
        }
    }
    parsed.frames.reverse();
    parsed
}

/// `github.com/acme/shop/cart.(*Cart).Add(0xc000010000, 0x5)` or
/// `created by main.main in goroutine 1`: the package path up to the first
/// dot after the last slash, then the function.
fn parse_go_function(line: &str) -> Option<FrameRef<'_>> {
    let qualified = match line.strip_prefix("created by ") {
        Some(rest) => split_once_short(rest, " in goroutine ").map_or(rest, |(head, _)| head),
        None => line
            .strip_suffix(')')
            .map(|l| l.rfind('(').map_or(l, |i| &l[..i]))?,
    };
    let package_end = qualified.rfind('/').map_or(0, |i| i + 1);
    let dot = qualified[package_end..].find('.')? + package_end;
    Some(FrameRef {
        module: Some(&qualified[..dot]),
        function: Some(&qualified[dot + 1..]),
        ..FrameRef::default()
    })
}

fn set_go_location<'a>(frame: &mut FrameRef<'a>, location: &'a str) {
    let location = split_once_short(location, " +0x")
        .map_or(location, |(head, _)| head)
        .trim();
    match location.rsplit_once(':') {
        Some((file, line)) => {
            frame.filename = Some(file);
            frame.lineno = line.parse().ok();
        }
        None => frame.filename = Some(location),
    }
}

// ---------------------------------------------------------------------------
// Byte scanning, shared with the signature code
// ---------------------------------------------------------------------------

// Searches test 8 bytes at a time in a `u64` ("SWAR"): the masks below set
// the high bit of exactly the bytes that qualify (no carries cross bytes).
// On the short strings of frames and messages this is several times faster
// than a byte loop, and than `str::find` or `contains` (made for long texts).

const ONES: u64 = u64::MAX / 255;
const LOW7: u64 = ONES * 0x7F;
const HIGH: u64 = ONES * 0x80;

/// The bytes of `word` equal to `byte`.
pub(crate) fn bytes_equal(word: u64, byte: u8) -> u64 {
    let diff = word ^ (ONES * u64::from(byte));
    !(((diff & LOW7) + LOW7) | diff | LOW7)
}

/// The bytes of `word` in `LO..=HI` (ASCII, `LO > 0`).
pub(crate) fn bytes_between<const LO: u8, const HI: u8>(word: u64) -> u64 {
    let low = word & LOW7;
    (ONES * (127 + u64::from(HI) + 1) - low)
        & !word
        & (low + ONES * (127 - (u64::from(LO) - 1)))
        & HIGH
}

/// The first byte at or after `from` that `mask` flags (`wanted` tells the
/// same for one byte, for the tail shorter than a word).
pub(crate) fn find_byte(
    bytes: &[u8],
    from: usize,
    mask: impl Fn(u64) -> u64,
    wanted: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let found = mask(word);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let offset = bytes.get(at..)?.iter().position(|&b| wanted(b))?;
    Some(at + offset)
}

pub(crate) fn is_digit(byte: u8) -> bool {
    byte.is_ascii_digit()
}

pub(crate) fn find_digit(bytes: &[u8], from: usize) -> Option<usize> {
    find_byte(bytes, from, bytes_between::<b'0', b'9'>, is_digit)
}

/// `s.rsplit_once(':')` for the end of a location, where the colon is a
/// few bytes from the end: a plain loop beats a search's setup.
fn rsplit_once_colon(s: &str) -> Option<(&str, &str)> {
    let colon = s.bytes().rposition(|b| b == b':')?;
    Some((&s[..colon], &s[colon + 1..]))
}

/// `str::lines`: split at `\n`, a `\r` before it dropped, no empty last
/// line after a final `\n`.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match find_equal(rest.as_bytes(), 0, b'\n') {
            Some(newline) => {
                let line = &rest[..newline];
                (
                    line.strip_suffix('\r').unwrap_or(line),
                    &rest[newline + 1..],
                )
            }
            None => (rest, ""),
        };
        rest = next;
        Some(line)
    })
}

/// `haystack.rfind(needle)`: the last place the needle's first byte starts
/// it, found scanning forward (a reverse substring search is much slower
/// on these texts).
fn rfind_short(haystack: &str, needle: &str) -> Option<usize> {
    let (bytes, needle_bytes) = (haystack.as_bytes(), needle.as_bytes());
    let (mut from, mut last) = (0, None);
    while let Some(at) = find_equal(bytes, from, needle_bytes[0]) {
        if bytes[at..].starts_with(needle_bytes) {
            last = Some(at);
        }
        from = at + 1;
    }
    last
}

/// `str::trim_start`, without decoding a char when the text starts ASCII.
fn trim_start(s: &str) -> &str {
    let start = s
        .bytes()
        .position(|b| !is_ascii_space(b))
        .unwrap_or(s.len());
    let rest = &s[start..];
    if rest.as_bytes().first().is_none_or(u8::is_ascii) {
        rest
    } else {
        rest.trim_start()
    }
}

/// `str::trim`, without decoding a char when both ends are ASCII (the usual
/// case: indentation and line ends are ASCII).
pub(crate) fn trim(s: &str) -> &str {
    let start = s
        .bytes()
        .position(|b| !is_ascii_space(b))
        .unwrap_or(s.len());
    let end = s
        .bytes()
        .rposition(|b| !is_ascii_space(b))
        .map_or(0, |i| i + 1);
    let ascii_ends = s.as_bytes().get(start).is_none_or(u8::is_ascii)
        && end
            .checked_sub(1)
            .is_none_or(|last| s.as_bytes()[last].is_ascii());
    if start >= end {
        return "";
    }
    if ascii_ends {
        &s[start..end]
    } else {
        s[start..end].trim()
    }
}

/// `char::is_whitespace` on ASCII (unlike `u8::is_ascii_whitespace`, it
/// includes the vertical tab).
pub(crate) fn is_ascii_space(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}

/// `haystack.split_once(needle)` for short haystacks such as stack lines:
/// finds the needle's first byte, then compares. A substring searcher's
/// setup costs more than this whole search on a line.
pub(crate) fn split_once_short<'a>(haystack: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let (bytes, needle_bytes) = (haystack.as_bytes(), needle.as_bytes());
    let mut from = 0;
    while let Some(at) = find_equal(bytes, from, needle_bytes[0]) {
        if bytes[at..].starts_with(needle_bytes) {
            // Both cuts are char boundaries: the needle is whole UTF-8 and
            // starts with an ASCII byte.
            return Some((&haystack[..at], &haystack[at + needle.len()..]));
        }
        from = at + 1;
    }
    None
}

/// Calls `visit` with each byte position that `mask` flags, in order,
/// until it returns true; whether it did.
#[inline]
pub(crate) fn any_flagged(
    bytes: &[u8],
    mask: impl Fn(u64) -> u64,
    wanted: impl Fn(u8) -> bool,
    mut visit: impl FnMut(usize) -> bool,
) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut found = mask(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        while found != 0 {
            if visit(base + (found.trailing_zeros() / 8) as usize) {
                return true;
            }
            found &= found - 1;
        }
        base += 8;
    }
    let tail = chunks.remainder();
    (0..tail.len()).any(|index| wanted(tail[index]) && visit(base + index))
}

pub(crate) fn find_equal(bytes: &[u8], from: usize, byte: u8) -> Option<usize> {
    find_byte(bytes, from, |word| bytes_equal(word, byte), |b| b == byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(file: Option<&str>, function: Option<&str>, line: Option<u32>) -> Frame {
        Frame {
            filename: file.map(str::to_owned),
            function: function.map(str::to_owned),
            lineno: line,
            ..Frame::default()
        }
    }

    fn functions(parsed: &ParsedStack) -> Vec<&str> {
        parsed
            .frames
            .iter()
            .map(|f| f.function.as_deref().unwrap_or("-"))
            .collect()
    }

    #[test]
    fn v8_stack_is_reversed_and_header_split() {
        let stack = "TypeError: Cannot read properties of undefined (reading 'id')\n    at getUser (/srv/app/src/users.js:10:15)\n    at async Router.handle (/srv/app/src/router.js:42:7)\n    at new Server (/srv/app/src/server.js:5:3)\n    at Object.<anonymous> (/srv/app/index.js:1:1)\n    at node:internal/main/run_main_module:28:49";
        let parsed = parse_stack(stack);
        assert_eq!(parsed.exception_type.as_deref(), Some("TypeError"));
        assert_eq!(
            parsed.message.as_deref(),
            Some("Cannot read properties of undefined (reading 'id')")
        );
        assert_eq!(
            functions(&parsed),
            [
                "-",
                "Object.<anonymous>",
                "Server",
                "Router.handle",
                "getUser"
            ]
        );
        let last = parsed.frames.last().expect("frames");
        let expected = Frame {
            colno: Some(15),
            ..frame(Some("/srv/app/src/users.js"), Some("getUser"), Some(10))
        };
        assert_eq!(*last, expected);
        assert_eq!(
            parsed.frames[0].filename.as_deref(),
            Some("node:internal/main/run_main_module")
        );
    }

    #[test]
    fn v8_fileless_and_eval_locations() {
        let stack = "Error: boom\n    at Array.forEach (<anonymous>)\n    at async Promise.all (index 0)\n    at JSON.parse (native)\n    at eval (eval at run (/app/x.js:3:9), <anonymous>:1:1)";
        let parsed = parse_stack(stack);
        assert_eq!(parsed.frames.len(), 4);
        assert_eq!(parsed.frames[0].filename.as_deref(), Some("/app/x.js"));
        assert_eq!(parsed.frames[0].lineno, Some(3));
        assert!(parsed.frames[1..].iter().all(|f| f.filename.is_none()));
    }

    #[test]
    fn uncaught_prefix_is_not_part_of_the_type() {
        let parsed = parse_stack(
            "Uncaught TypeError: x is not a function\n    at https://a.example/app.js:1:2",
        );
        assert_eq!(parsed.exception_type.as_deref(), Some("TypeError"));
        assert_eq!(parsed.message.as_deref(), Some("x is not a function"));
    }

    #[test]
    fn prose_starting_with_at_is_not_a_frame() {
        let parsed = parse_stack("Error: need more\n    at least three items\n    at foo (bar)");
        assert!(parsed.frames.is_empty());
    }

    #[test]
    fn firefox_and_safari_stacks() {
        let stack = "loadUser@https://shop.example/static/js/main.3f2a9c1b.js:2:1043\nasync*onClick@https://shop.example/static/js/main.3f2a9c1b.js:2:880\n@https://shop.example/static/js/main.3f2a9c1b.js:1:12\nforEach@[native code]\nglobal code@https://shop.example/index.html:5:3\nrun@https://shop.example/app.js line 2 > eval:1:3";
        let parsed = parse_stack(stack);
        assert_eq!(parsed.exception_type, None);
        assert_eq!(
            functions(&parsed),
            ["run", "global code", "forEach", "-", "onClick", "loadUser"]
        );
        assert_eq!(
            parsed.frames[0].filename.as_deref(),
            Some("https://shop.example/app.js")
        );
        assert_eq!(parsed.frames[0].lineno, Some(2));
        assert_eq!(parsed.frames[2].filename, None);
        assert_eq!(parsed.frames[5].colno, Some(1043));
    }

    #[test]
    fn header_with_email_is_not_a_gecko_frame() {
        let parsed = parse_stack("Error: bob@example.com:1 rejected");
        assert!(parsed.frames.is_empty());
        assert_eq!(parsed.exception_type.as_deref(), Some("Error"));
    }

    #[test]
    fn python_traceback_takes_the_last_chain_link() {
        let stack = r#"Traceback (most recent call last):
  File "/srv/app/db.py", line 10, in connect
    sock.connect(addr)
ConnectionRefusedError: [Errno 111] Connection refused

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/main.py", line 3, in <module>
    main()
  File "/srv/app/main.py", line 8, in main
    db.connect()
    ~~~~~~~~~~^^
  File "/usr/lib/python3.12/socket.py", line 500, in create_connection
    raise err
app.errors.DatabaseUnavailable: database is down
"#;
        let parsed = parse_stack(stack);
        assert_eq!(
            parsed.exception_type.as_deref(),
            Some("app.errors.DatabaseUnavailable")
        );
        assert_eq!(parsed.message.as_deref(), Some("database is down"));
        assert_eq!(
            functions(&parsed),
            ["<module>", "main", "create_connection"]
        );
        assert_eq!(parsed.frames[1].lineno, Some(8));
    }

    #[test]
    fn python_syntax_error_and_bare_type() {
        let stack = "Traceback (most recent call last):\n  File \"x.py\", line 3\n    foo(\n       ^\nKeyError";
        let parsed = parse_stack(stack);
        assert_eq!(parsed.exception_type.as_deref(), Some("KeyError"));
        assert_eq!(parsed.message, None);
        assert_eq!(parsed.frames, [frame(Some("x.py"), None, Some(3))]);
    }

    #[test]
    fn jvm_stack_stops_at_caused_by() {
        let stack = "Exception in thread \"main\" java.lang.IllegalStateException: order 42 missing\n\tat com.acme.shop.OrderService.lambda$load$0(OrderService.java:57)\n\tat java.base/java.util.Optional.orElseThrow(Optional.java:403)\n\tat com.acme.shop.OrderService.load(OrderService.java:55) ~[shop.jar:1.0]\n\tat java.base/java.lang.Thread.run(Native Method)\n\t... 3 more\nCaused by: java.io.IOException: disk\n\tat com.acme.Disk.read(Disk.java:1)";
        let parsed = parse_stack(stack);
        assert_eq!(
            parsed.exception_type.as_deref(),
            Some("java.lang.IllegalStateException")
        );
        assert_eq!(parsed.message.as_deref(), Some("order 42 missing"));
        assert_eq!(
            functions(&parsed),
            ["run", "load", "orElseThrow", "lambda$load$0"]
        );
        let crash = parsed.frames.last().expect("frames");
        assert_eq!(crash.module.as_deref(), Some("com.acme.shop.OrderService"));
        assert_eq!(crash.filename.as_deref(), Some("OrderService.java"));
        assert_eq!(crash.lineno, Some(57));
        assert_eq!(parsed.frames[0].filename, None);
        assert_eq!(parsed.frames[0].module.as_deref(), Some("java.lang.Thread"));
    }

    #[test]
    fn go_panic_first_goroutine_only() {
        let stack = "panic: runtime error: index out of range [5] with length 3\n\ngoroutine 1 [running]:\nmain.(*Cart).Item(0xc000010000, 0x5)\n\t/home/alice/shop/cart.go:12 +0x1d\nmain.main()\n\t/home/alice/shop/main.go:8 +0x25\ncreated by main.start in goroutine 1\n\t/home/alice/shop/main.go:20 +0x30\n\ngoroutine 2 [chan receive]:\nmain.worker()\n\t/home/alice/shop/w.go:3 +0x1\nexit status 2";
        let parsed = parse_stack(stack);
        assert_eq!(parsed.exception_type.as_deref(), Some("panic"));
        assert_eq!(
            parsed.message.as_deref(),
            Some("runtime error: index out of range [5] with length 3")
        );
        assert_eq!(functions(&parsed), ["start", "main", "(*Cart).Item"]);
        let crash = parsed.frames.last().expect("frames");
        assert_eq!(crash.module.as_deref(), Some("main"));
        assert_eq!(crash.filename.as_deref(), Some("/home/alice/shop/cart.go"));
        assert_eq!(crash.lineno, Some(12));
    }

    #[test]
    fn go_package_paths_keep_their_dots() {
        let frame = parse_go_function("github.com/acme/shop/cart.(*Cart).Add(0x1)").expect("frame");
        assert_eq!(frame.module, Some("github.com/acme/shop/cart"));
        assert_eq!(frame.function, Some("(*Cart).Add"));
    }

    #[test]
    fn garbage_yields_nothing_but_a_message() {
        let parsed = parse_stack("something went wrong: badly\nand more");
        assert!(parsed.frames.is_empty());
        assert_eq!(parsed.exception_type, None);
        assert_eq!(
            parsed.message.as_deref(),
            Some("something went wrong: badly")
        );
        assert_eq!(parse_stack(""), ParsedStack::default());
    }

    fn in_app(file: Option<&str>, module: Option<&str>) -> bool {
        guess_in_app(&Frame {
            filename: file.map(str::to_owned),
            module: module.map(str::to_owned),
            ..Frame::default()
        })
    }

    #[test]
    fn in_app_guessing() {
        assert!(in_app(Some("/srv/app/src/users.js"), None));
        assert!(in_app(
            Some("https://shop.example/static/js/main.3f2a.js"),
            None
        ));
        assert!(in_app(Some("Bar.java"), Some("com.acme.Bar")));
        assert!(in_app(None, Some("app.views")));
        for vendor in [
            "/srv/app/node_modules/express/lib/router/index.js",
            "/venv/lib/python3.12/site-packages/django/core/handlers/base.py",
            "/usr/lib/python3/dist-packages/requests/api.py",
            "/usr/lib/python3.12/json/decoder.py",
            "<frozen importlib._bootstrap>",
            "node:internal/process/task_queues",
            "internal/modules/cjs/loader.js",
            "<anonymous>",
            "native",
            "chrome-extension://abcdef/content.js",
            "/usr/local/go/src/runtime/panic.go",
        ] {
            assert!(!in_app(Some(vendor), None), "{vendor}");
        }
        for module in [
            "java.lang.Thread",
            "javax.servlet.Filter",
            "sun.reflect.X",
            "jdk.internal.Y",
        ] {
            assert!(!in_app(Some("X.java"), Some(module)), "{module}");
        }
        assert!(!in_app(None, None));
        assert!(!in_app(Some(""), None));
    }

    /// Text made of what the helpers look for, ASCII and not.
    fn helper_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            "[a-z/_<>:. -]{0,6}",
            proptest::sample::select(vec![
                " ",
                "\t",
                "\n",
                "\r\n",
                "\r",
                "\u{0B}",
                "\u{A0}",
                "\u{2003}",
                "é",
                "::",
                ": ",
                " (",
                "(",
                "\"",
                "\", line ",
                ", in ",
                "node_modules",
                "site-packages",
                "dist-",
                "-packages",
                "/usr/lib/",
                "/usr/local/",
                "go/",
                "/go/pkg/mod/",
                "<frozen",
                "Traceback (most recent call last):",
                "Traceback (",
            ])
            .prop_map(String::from),
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
    }

    proptest::proptest! {
        #[test]
        fn scanning_helpers_equal_the_std_functions(text in helper_text()) {
            use proptest::prop_assert_eq;
            prop_assert_eq!(trim(&text), text.trim());
            prop_assert_eq!(trim_start(&text), text.trim_start());
            prop_assert_eq!(lines(&text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>());
            for needle in [": ", " (", "\", line ", ", in ", "::", PYTHON_MARKER, "Traceback (T"] {
                prop_assert_eq!(split_once_short(&text, needle), text.split_once(needle));
                prop_assert_eq!(rfind_short(&text, needle), text.rfind(needle));
            }
            prop_assert_eq!(rsplit_once_colon(&text), text.rsplit_once(':'));
            prop_assert_eq!(
                has_library_fragment(&text),
                LIBRARY_PATH_FRAGMENTS.iter().any(|f| text.contains(f))
            );
            let bytes = text.as_bytes();
            for from in 0..=bytes.len() {
                prop_assert_eq!(
                    find_digit(bytes, from),
                    bytes[from..].iter().position(u8::is_ascii_digit).map(|p| from + p)
                );
                prop_assert_eq!(
                    find_equal(bytes, from, b'/'),
                    bytes[from..].iter().position(|&b| b == b'/').map(|p| from + p)
                );
            }
        }
    }

    #[test]
    fn swar_masks_flag_exactly_their_bytes() {
        for byte in 0..=255u8 {
            for position in 0..8 {
                let mut bytes = [b'a'; 8];
                bytes[position] = byte;
                let word = u64::from_le_bytes(bytes);
                let flagged = |mask: u64| mask == 0x80 << (8 * position);
                let none = |mask: u64| mask == 0;
                let equal = bytes_equal(word, byte);
                assert!(flagged(equal) || (byte == b'a' && equal == HIGH), "{byte}");
                let digit = bytes_between::<b'0', b'9'>(word);
                assert!(
                    if byte.is_ascii_digit() {
                        flagged(digit)
                    } else {
                        none(digit)
                    },
                    "{byte}"
                );
                let upper = bytes_between::<b'A', b'Z'>(word);
                assert!(
                    if byte.is_ascii_uppercase() {
                        flagged(upper)
                    } else {
                        none(upper)
                    },
                    "{byte}"
                );
            }
        }
    }

    #[test]
    fn header_splitting() {
        assert_eq!(
            split_header("ValueError: bad: worse"),
            (Some("ValueError"), "bad: worse")
        );
        assert_eq!(split_header("Error:"), (Some("Error"), ""));
        assert_eq!(split_header("StopIteration"), (Some("StopIteration"), ""));
        assert_eq!(split_header("not a type: x"), (None, "not a type: x"));
        assert_eq!(
            split_header("Uncaught (in promise) AbortError: aborted"),
            (Some("AbortError"), "aborted")
        );
    }
}
