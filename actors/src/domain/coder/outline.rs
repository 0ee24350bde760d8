//! A file's outline: its classes, functions and methods with line numbers,
//! so the coding agent knows where things are before it reads a line of
//! the file (the files on the stack are outlined in its context).
//!
//! Found by a few regular expressions per language over each line, not by
//! a parser: Suture would otherwise carry a grammar per language, and an
//! outline that misses a multi-line signature costs the model one
//! `read_file`, not a wrong fix. Nesting comes from indentation (a
//! declaration indented under a class is its method), which every
//! formatter of these languages keeps. Comment lines, Python docstrings and
//! block comments are skipped, so commented-out code is not outlined.
//!
//! Languages: Python, JavaScript and TypeScript, Rust, Go, Java, Ruby. Any
//! other file has no outline ([`outline`] returns `None`). Output is
//! bounded: at most [`MAX_SYMBOLS`] symbols, each declaration cut to
//! [`MAX_DECLARATION_CHARS`] characters.

use std::sync::OnceLock;

use regex::Regex;

use crate::domain::text::{head_bytes, truncate};

/// Symbols kept per file: a 3,000-line module has a few hundred, and the
/// first 120 with the count of the rest tell the model where to look.
pub const MAX_SYMBOLS: usize = 120;

/// Characters of a declaration line kept.
pub const MAX_DECLARATION_CHARS: usize = 160;

/// Bytes of a line looked at: a minified bundle's one line holds nothing
/// an outline could show.
const MAX_LINE_BYTES: usize = 1000;

/// Columns a tab counts for when comparing indentation.
const TAB_WIDTH: usize = 4;

/// The languages outlined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Python,
    /// JavaScript and TypeScript (one set of rules: TypeScript adds
    /// interfaces, types and enums).
    JavaScript,
    Rust,
    Go,
    Java,
    Ruby,
}

impl Language {
    /// The language of `path`, by its extension.
    pub fn of(path: &str) -> Option<Language> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let (_, ext) = name.rsplit_once('.')?;
        Some(match ext.to_ascii_lowercase().as_str() {
            "py" | "pyi" => Language::Python,
            "js" | "jsx" | "mjs" | "cjs" | "ts" | "tsx" | "mts" | "cts" => Language::JavaScript,
            "rs" => Language::Rust,
            "go" => Language::Go,
            "java" => Language::Java,
            "rb" | "rake" => Language::Ruby,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::Rust => "rust",
            Language::Go => "go",
            Language::Java => "java",
            Language::Ruby => "ruby",
        }
    }
}

/// What a symbol declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Class,
    Module,
    Interface,
    Struct,
    Enum,
    Trait,
    /// A Rust `impl` block.
    Impl,
    Type,
    Function,
    /// A function declared in a class, impl, trait or module, or a Go
    /// function with a receiver.
    Method,
}

impl Kind {
    /// Whether functions declared inside it are its methods (a Rust
    /// module's functions are functions; so, here, are a Ruby module's).
    fn holds_methods(self) -> bool {
        matches!(
            self,
            Kind::Class | Kind::Interface | Kind::Enum | Kind::Trait | Kind::Impl
        )
    }
}

/// One declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// 1-based line of the declaration.
    pub line: usize,
    /// Nesting: 0 at the top of the file, 1 inside a class...
    pub depth: usize,
    pub kind: Kind,
    pub name: String,
    /// The declaration line, trimmed and cut to [`MAX_DECLARATION_CHARS`].
    pub declaration: String,
}

/// A file's outline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    pub language: Language,
    /// Lines in the file.
    pub lines: usize,
    /// The first [`MAX_SYMBOLS`] symbols, in file order.
    pub symbols: Vec<Symbol>,
    /// Symbols found in all (more than `symbols.len()` when cut).
    pub total: usize,
}

impl Outline {
    /// The innermost symbol declared at or before `line` that still
    /// encloses it, by nesting (the outline knows no end lines, so a
    /// function is taken to run until the next declaration at its depth or
    /// shallower).
    pub fn enclosing(&self, line: usize) -> Option<&Symbol> {
        let mut chain: Vec<&Symbol> = Vec::new();
        for symbol in self.symbols.iter().take_while(|s| s.line <= line) {
            chain.truncate(symbol.depth);
            chain.push(symbol);
        }
        chain.last().copied()
    }

    /// One line per symbol, `  37  def order_total(order):`, indented by
    /// depth; a symbol enclosing one of `marks` (lines on the stack) ends
    /// with `<- line 44`. A last line counts the symbols not shown.
    pub fn render(&self, marks: &[usize]) -> String {
        let width = self.lines.max(1).to_string().len();
        let mut out = String::new();
        for symbol in &self.symbols {
            let marked: Vec<String> = marks
                .iter()
                .filter(|&&m| self.enclosing(m).is_some_and(|s| std::ptr::eq(s, symbol)))
                .map(|m| m.to_string())
                .collect();
            out.push_str(&format!(
                "{:>width$}  {}{}",
                symbol.line,
                "  ".repeat(symbol.depth),
                symbol.declaration
            ));
            if !marked.is_empty() {
                out.push_str(&format!("  <- line {}", marked.join(", ")));
            }
            out.push('\n');
        }
        if self.total > self.symbols.len() {
            out.push_str(&format!(
                "[{} more symbols not shown]\n",
                self.total - self.symbols.len()
            ));
        }
        out
    }
}

/// The outline of `content`, the text of `path`; `None` for a language not
/// outlined.
pub fn outline(path: &str, content: &str) -> Option<Outline> {
    let language = Language::of(path)?;
    let rules = rules(language);
    let mut symbols = Vec::new();
    let mut total = 0usize;
    // (indentation, kind) of the declarations enclosing the current line.
    let mut open: Vec<(usize, Kind)> = Vec::new();
    let mut skip = Skip::default();
    let mut lines = 0usize;
    for (index, raw) in content.lines().enumerate() {
        lines = index + 1;
        let line = head_bytes(raw, MAX_LINE_BYTES);
        let trimmed = line.trim();
        if skip.comment(language, trimmed) || trimmed.is_empty() {
            continue;
        }
        let indent = indentation(line);
        let parent = open
            .iter()
            .rev()
            .find(|(at, _)| *at < indent)
            .map(|(_, kind)| *kind);
        let Some((kind, name)) = rules.matches(trimmed, parent) else {
            continue;
        };
        while open.last().is_some_and(|(at, _)| *at >= indent) {
            open.pop();
        }
        let kind = match kind {
            Kind::Function if parent.is_some_and(Kind::holds_methods) => Kind::Method,
            other => other,
        };
        let depth = open.len();
        open.push((indent, kind));
        total += 1;
        if symbols.len() < MAX_SYMBOLS {
            symbols.push(Symbol {
                line: index + 1,
                depth,
                kind,
                name,
                declaration: truncate(trimmed, MAX_DECLARATION_CHARS),
            });
        }
    }
    Some(Outline {
        language,
        lines,
        symbols,
        total,
    })
}

fn indentation(line: &str) -> usize {
    line.chars()
        .take_while(|c| c.is_whitespace())
        .map(|c| if c == '\t' { TAB_WIDTH } else { 1 })
        .sum()
}

/// Comments and docstrings: lines whose declarations are not code.
#[derive(Default)]
struct Skip {
    /// Inside a Python triple-quoted string, a `/* */` block or a Ruby
    /// `=begin` block.
    inside: bool,
}

impl Skip {
    /// Whether `trimmed` is a comment (or documentation) line; updates the
    /// block state.
    fn comment(&mut self, language: Language, trimmed: &str) -> bool {
        match language {
            Language::Python => {
                let quotes = trimmed.matches("\"\"\"").count() + trimmed.matches("'''").count();
                let was = self.inside;
                if quotes % 2 == 1 {
                    self.inside = !self.inside;
                }
                // A line opening a docstring is not a declaration either
                // (`x = """def f():` is text).
                was || quotes % 2 == 1 || trimmed.starts_with('#')
            }
            Language::Ruby => {
                if self.inside {
                    self.inside = !trimmed.starts_with("=end");
                    return true;
                }
                if trimmed.starts_with("=begin") {
                    self.inside = true;
                    return true;
                }
                trimmed.starts_with('#')
            }
            _ => {
                if self.inside {
                    self.inside = !trimmed.contains("*/");
                    return true;
                }
                if let Some(open) = trimmed.find("/*") {
                    self.inside = !trimmed[open..].contains("*/");
                    return open == 0;
                }
                trimmed.starts_with("//") || trimmed.starts_with('*')
            }
        }
    }
}

/// Where a rule applies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Anywhere.
    Any,
    /// Only directly inside a class-like symbol (a JS or Java method
    /// declaration looks like a call statement elsewhere).
    InClass,
}

struct Rule {
    regex: Regex,
    kind: Kind,
    scope: Scope,
}

struct Rules(Vec<Rule>);

/// Words that open statements, never a class member's name or return type.
const KEYWORDS: &[&str] = &[
    "if",
    "for",
    "while",
    "switch",
    "catch",
    "return",
    "new",
    "throw",
    "else",
    "case",
    "do",
    "try",
    "function",
    "await",
    "yield",
    "assert",
    "synchronized",
    "super",
    "this",
];

impl Rules {
    /// The first rule that matches `trimmed` where it is: its kind and the
    /// declared name.
    fn matches(&self, trimmed: &str, parent: Option<Kind>) -> Option<(Kind, String)> {
        let in_class = parent.is_some_and(Kind::holds_methods);
        self.0.iter().find_map(|rule| {
            if rule.scope == Scope::InClass && !in_class {
                return None;
            }
            let caps = rule.regex.captures(trimmed)?;
            let name = caps.name("name")?.as_str();
            // Members are told from statements by their first word.
            let first_word = trimmed.split(|c: char| !c.is_alphanumeric()).next();
            if rule.scope == Scope::InClass
                && (KEYWORDS.contains(&name) || first_word.is_some_and(|w| KEYWORDS.contains(&w)))
            {
                return None;
            }
            Some((rule.kind, name.to_string()))
        })
    }
}

fn rules(language: Language) -> &'static Rules {
    static PYTHON: OnceLock<Rules> = OnceLock::new();
    static JAVASCRIPT: OnceLock<Rules> = OnceLock::new();
    static RUST: OnceLock<Rules> = OnceLock::new();
    static GO: OnceLock<Rules> = OnceLock::new();
    static JAVA: OnceLock<Rules> = OnceLock::new();
    static RUBY: OnceLock<Rules> = OnceLock::new();
    let (cell, table): (&OnceLock<Rules>, &[(&str, Kind, Scope)]) = match language {
        Language::Python => (&PYTHON, PYTHON_RULES),
        Language::JavaScript => (&JAVASCRIPT, JAVASCRIPT_RULES),
        Language::Rust => (&RUST, RUST_RULES),
        Language::Go => (&GO, GO_RULES),
        Language::Java => (&JAVA, JAVA_RULES),
        Language::Ruby => (&RUBY, RUBY_RULES),
    };
    cell.get_or_init(|| {
        Rules(
            table
                .iter()
                .map(|&(re, kind, scope)| Rule {
                    // Built-in patterns, checked by the tests of every language.
                    regex: Regex::new(re).unwrap_or_else(|e| panic!("outline pattern {re}: {e}")),
                    kind,
                    scope,
                })
                .collect(),
        )
    })
}

const PYTHON_RULES: &[(&str, Kind, Scope)] = &[
    (r"^class\s+(?P<name>\w+)", Kind::Class, Scope::Any),
    (
        r"^(?:async\s+)?def\s+(?P<name>\w+)\s*[(\[]",
        Kind::Function,
        Scope::Any,
    ),
];

const JAVASCRIPT_RULES: &[(&str, Kind, Scope)] = &[
    (
        r"^(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?class\s+(?P<name>[\w$]+)",
        Kind::Class,
        Scope::Any,
    ),
    (
        r"^(?:export\s+)?(?:declare\s+)?interface\s+(?P<name>[\w$]+)",
        Kind::Interface,
        Scope::Any,
    ),
    (
        r"^(?:export\s+)?(?:declare\s+)?(?:const\s+)?enum\s+(?P<name>[\w$]+)",
        Kind::Enum,
        Scope::Any,
    ),
    (
        r"^(?:export\s+)?(?:declare\s+)?type\s+(?P<name>[\w$]+)\s*(?:<[^=]*>)?\s*=",
        Kind::Type,
        Scope::Any,
    ),
    (
        r"^(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:async\s+)?function\s*\*?\s*(?P<name>[\w$]+)",
        Kind::Function,
        Scope::Any,
    ),
    (
        r"^(?:export\s+)?(?:const|let|var)\s+(?P<name>[\w$]+)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:function\b|(?:\([^)]*\)|[\w$]+)\s*(?::[^=]+)?=>)",
        Kind::Function,
        Scope::Any,
    ),
    (
        r"^(?:module\.)?exports\.(?P<name>[\w$]+)\s*=\s*(?:async\s+)?(?:function\b|(?:\([^)]*\)|[\w$]+)\s*=>)",
        Kind::Function,
        Scope::Any,
    ),
    // Class members: `async total(items) {`, `static get id() {`,
    // `private handle = (e) => {`, `constructor(` (arguments on the next lines).
    (
        r"^(?:(?:public|private|protected|static|readonly|async|override|abstract|get|set)\s+)*\*?(?P<name>#?[\w$]+)\s*(?:<[^>]*>)?\s*\((?:[^;]*\)\s*(?::\s*[^{;=]+)?\{|[^)]*)$",
        Kind::Method,
        Scope::InClass,
    ),
    (
        r"^(?:(?:public|private|protected|static|readonly)\s+)*(?P<name>#?[\w$]+)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:\([^)]*\)|[\w$]+)\s*=>",
        Kind::Method,
        Scope::InClass,
    ),
];

const RUST_RULES: &[(&str, Kind, Scope)] = &[
    (
        r#"^(?:pub(?:\([^)]*\))?\s+)?(?:default\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"[^"]*"\s+)?fn\s+(?P<name>\w+)"#,
        Kind::Function,
        Scope::Any,
    ),
    (
        r"^(?:pub(?:\([^)]*\))?\s+)?(?:struct|union)\s+(?P<name>\w+)",
        Kind::Struct,
        Scope::Any,
    ),
    (
        r"^(?:pub(?:\([^)]*\))?\s+)?enum\s+(?P<name>\w+)",
        Kind::Enum,
        Scope::Any,
    ),
    (
        r"^(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+)?(?:auto\s+)?trait\s+(?P<name>\w+)",
        Kind::Trait,
        Scope::Any,
    ),
    (
        r"^(?:pub(?:\([^)]*\))?\s+)?type\s+(?P<name>\w+)",
        Kind::Type,
        Scope::Any,
    ),
    (
        r"^(?:pub(?:\([^)]*\))?\s+)?mod\s+(?P<name>\w+)",
        Kind::Module,
        Scope::Any,
    ),
    (
        r"^(?:unsafe\s+)?impl\b\s*(?:<[^{]*?>)?\s*(?P<name>[^{]+?)\s*(?:\bwhere\b.*)?\{?\s*$",
        Kind::Impl,
        Scope::Any,
    ),
];

const GO_RULES: &[(&str, Kind, Scope)] = &[
    (
        r"^func\s+\([^)]*\)\s*(?P<name>\w+)",
        Kind::Method,
        Scope::Any,
    ),
    (r"^func\s+(?P<name>\w+)", Kind::Function, Scope::Any),
    (
        r"^type\s+(?P<name>\w+)(?:\[[^\]]*\])?\s+struct\b",
        Kind::Struct,
        Scope::Any,
    ),
    (
        r"^type\s+(?P<name>\w+)(?:\[[^\]]*\])?\s+interface\b",
        Kind::Interface,
        Scope::Any,
    ),
    (r"^type\s+(?P<name>\w+)\b", Kind::Type, Scope::Any),
];

const JAVA_RULES: &[(&str, Kind, Scope)] = &[
    (
        r"^(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|protected|static|final|abstract|sealed|non-sealed|strictfp)\s+)*(?:class|record)\s+(?P<name>\w+)",
        Kind::Class,
        Scope::Any,
    ),
    (
        r"^(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|protected|static|abstract|sealed|non-sealed|strictfp)\s+)*@?interface\s+(?P<name>\w+)",
        Kind::Interface,
        Scope::Any,
    ),
    (
        r"^(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|protected|static|final|strictfp)\s+)*enum\s+(?P<name>\w+)",
        Kind::Enum,
        Scope::Any,
    ),
    // A method: modifiers, type parameters, a return type, the name.
    (
        r"^(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|protected|static|final|abstract|synchronized|native|default|strictfp)\s+)*(?:<[^>]+>\s+)?[\w.$]+(?:<[^(]*>)?(?:\[\])*\s+(?P<name>\w+)\s*\(",
        Kind::Method,
        Scope::InClass,
    ),
    // A constructor: an access modifier and a capitalised name.
    (
        r"^(?:@\w+(?:\([^)]*\))?\s+)*(?:public|private|protected)\s+(?P<name>[A-Z]\w*)\s*\(",
        Kind::Method,
        Scope::InClass,
    ),
];

const RUBY_RULES: &[(&str, Kind, Scope)] = &[
    (r"^class\s+(?P<name>[A-Z][\w:]*)", Kind::Class, Scope::Any),
    (r"^module\s+(?P<name>[A-Z][\w:]*)", Kind::Module, Scope::Any),
    (
        r"^def\s+(?P<name>(?:self\.)?[\w.]+[?!=]?|[^\s(]+)",
        Kind::Function,
        Scope::Any,
    ),
];

#[cfg(test)]
#[path = "outline_tests.rs"]
mod tests;
