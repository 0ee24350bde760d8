//! Prompt templates and the renderer that keeps untrusted text as data.
//!
//! A template is a markdown file: the system message, a line
//! `<!-- user -->`, then the user message. `{{name}}` marks a slot. Slots
//! are filled two ways:
//!
//! - Suture's own values (counts, signature ids, gate numbers) go in as
//!   they are.
//! - Text someone else wrote (exception messages, stacks, breadcrumbs, diff
//!   lines) is scrubbed, then fenced between `<<<DATA-xxxx` and
//!   `DATA-xxxx>>>`, where `xxxx` is random per request. The system prompt
//!   says what is between those lines is data, never instructions; text
//!   written before the request cannot know the boundary, so it cannot
//!   close the block and speak as Suture.
//!
//! The templates in `prompts/` are built in; `llm.analyzer_prompt`,
//! `llm.triage_prompt` and `llm.coder_prompt` name files that replace them. A file that leaves out
//! a required slot or names an unknown one is refused when loaded.

use std::collections::BTreeMap;
use std::path::Path;

use crate::domain::scrub::Scrubber;

/// The built-in analyzer prompt.
pub const ANALYZER_TEMPLATE: &str = include_str!("../../../../prompts/analyzer.md");
/// The built-in triage prompt.
pub const TRIAGE_TEMPLATE: &str = include_str!("../../../../prompts/triage.md");
/// The built-in coding agent prompt (filled by `domain::coder::context`).
pub const CODER_TEMPLATE: &str = include_str!("../../../../prompts/coder.md");

/// The line between the system message and the user message.
const USER_MARKER: &str = "<!-- user -->";

/// Which prompt a template is for: each has its own slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Analyzer,
    Triage,
    Coder,
}

impl PromptKind {
    /// Every slot a template of this kind must use (and the only ones it may).
    pub fn slots(self) -> &'static [&'static str] {
        match self {
            PromptKind::Analyzer => &["boundary", "max_index", "count", "exceptions"],
            PromptKind::Triage => &[
                "boundary",
                "deploy",
                "changed_files",
                "diff",
                "count",
                "exceptions",
            ],
            PromptKind::Coder => &[
                "boundary",
                "ticket",
                "root_cause",
                "errors",
                "triage",
                "files",
                "outlines",
                "related_tests",
                "past_fixes",
                "diff",
                "commits",
                "base_revision",
                "test_command",
                "omitted",
            ],
        }
    }

    /// The config key that overrides this prompt, for error messages.
    pub fn config_key(self) -> &'static str {
        match self {
            PromptKind::Analyzer => "llm.analyzer_prompt",
            PromptKind::Triage => "llm.triage_prompt",
            PromptKind::Coder => "llm.coder_prompt",
        }
    }

    fn builtin(self) -> &'static str {
        match self {
            PromptKind::Analyzer => ANALYZER_TEMPLATE,
            PromptKind::Triage => TRIAGE_TEMPLATE,
            PromptKind::Coder => CODER_TEMPLATE,
        }
    }
}

/// Why a template could not be loaded or rendered.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PromptError {
    #[error("{key}: cannot read {path}: {message}")]
    Read {
        key: &'static str,
        path: String,
        message: String,
    },
    #[error(
        "{key}: the template has no line `{USER_MARKER}` between the system and the user message"
    )]
    NoUserMarker { key: &'static str },
    #[error("{key}: unknown slot {{{{{slot}}}}} (known: {known})")]
    UnknownSlot {
        key: &'static str,
        slot: String,
        known: String,
    },
    #[error("{key}: the template never uses the slot {{{{{slot}}}}}")]
    MissingSlot {
        key: &'static str,
        slot: &'static str,
    },
    #[error("the data contains the boundary {0:?}")]
    BoundaryInData(String),
}

/// A checked template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    kind: PromptKind,
    system: String,
    user: String,
}

impl Template {
    /// The built-in template of `kind`, or the file `path` when it is not empty.
    pub fn load(kind: PromptKind, path: &Path) -> Result<Self, PromptError> {
        if path.as_os_str().is_empty() {
            return Self::parse(kind, kind.builtin());
        }
        let text = std::fs::read_to_string(path).map_err(|e| PromptError::Read {
            key: kind.config_key(),
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(kind, &text)
    }

    /// Checks `text` as a template of `kind`: split in two, every slot known
    /// and every required slot used (a prompt without `{{boundary}}` would
    /// not tell the model where the data is).
    pub fn parse(kind: PromptKind, text: &str) -> Result<Self, PromptError> {
        let key = kind.config_key();
        let (system, user) = text
            .split_once(&format!("\n{USER_MARKER}\n"))
            .ok_or(PromptError::NoUserMarker { key })?;
        let used: Vec<String> = slots_in(system).chain(slots_in(user)).collect();
        if let Some(slot) = used.iter().find(|s| !kind.slots().contains(&s.as_str())) {
            return Err(PromptError::UnknownSlot {
                key,
                slot: slot.clone(),
                known: kind.slots().join(", "),
            });
        }
        if let Some(slot) = kind.slots().iter().find(|s| !used.iter().any(|u| u == *s)) {
            return Err(PromptError::MissingSlot { key, slot });
        }
        Ok(Self {
            kind,
            system: system.to_string(),
            user: user.to_string(),
        })
    }

    pub fn kind(&self) -> PromptKind {
        self.kind
    }

    /// How many times `{{slot}}` appears in the two messages: a caller
    /// sizing a prompt slot by slot counts a value once per use.
    pub fn occurrences(&self, slot: &str) -> usize {
        slots_in(&self.system)
            .chain(slots_in(&self.user))
            .filter(|s| s == slot)
            .count()
    }
}

/// The names of the `{{slots}}` in `text`.
fn slots_in(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split("{{").skip(1).filter_map(|rest| {
        let (name, _) = rest.split_once("}}")?;
        Some(name.trim().to_string())
    })
}

/// A prompt ready to send: the system and the user message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPrompt {
    pub system: String,
    pub user: String,
}

/// The per-request boundary around data blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boundary(String);

impl Boundary {
    /// `DATA-` and 20 random lowercase letters. Letters only, so no scrub
    /// rule (cards, addresses) can match it; 26^20 values, so no text
    /// written before the request guesses it.
    pub fn random() -> Self {
        let tag: String = (0..20).map(|_| fastrand::lowercase()).collect();
        Self(format!("DATA-{tag}"))
    }

    /// A fixed boundary, for tests and snapshots.
    pub fn fixed(tag: &str) -> Self {
        Self(format!("DATA-{tag}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `text` between the boundary's opening and closing lines, as a data
/// block. Callers that size a prompt before rendering it measure with this
/// (on text already scrubbed), so the sizes are the rendered ones.
pub fn data_block(boundary: &Boundary, text: &str) -> String {
    let boundary = boundary.as_str();
    format!("<<<{boundary}\n{text}\n{boundary}>>>")
}

/// Fills a template: `text` slots as they are, `data` slots scrubbed and fenced.
pub struct Renderer<'a> {
    template: &'a Template,
    scrubber: &'a Scrubber,
    boundary: Boundary,
    values: BTreeMap<&'static str, String>,
    /// Untrusted text as it will appear, to check against the boundary.
    data: Vec<String>,
}

impl<'a> Renderer<'a> {
    pub fn new(template: &'a Template, scrubber: &'a Scrubber, boundary: Boundary) -> Self {
        Self {
            template,
            scrubber,
            boundary,
            values: BTreeMap::new(),
            data: Vec::new(),
        }
    }

    /// A value Suture computed itself, inserted as it is.
    pub fn text(&mut self, slot: &'static str, value: impl Into<String>) -> &mut Self {
        self.values.insert(slot, value.into());
        self
    }

    /// Untrusted text for a slot: scrubbed, then fenced in one data block.
    pub fn data(&mut self, slot: &'static str, value: &str) -> &mut Self {
        let block = self.block(value);
        self.values.insert(slot, block);
        self
    }

    /// Scrubs `value` and fences it; for callers that compose a slot from
    /// several pieces (one block per exception, with Suture's own numbers
    /// between them).
    pub fn block(&mut self, value: &str) -> String {
        let scrubbed = self.scrubber.scrub(value).into_owned();
        let block = data_block(&self.boundary, &scrubbed);
        self.data.push(scrubbed);
        block
    }

    /// The prompt. Fails only when a piece of data contains the boundary,
    /// which a random boundary makes practically impossible; callers retry
    /// with a new one.
    pub fn render(&self) -> Result<RenderedPrompt, PromptError> {
        let boundary = self.boundary.as_str();
        if self.data.iter().any(|d| d.contains(boundary)) {
            return Err(PromptError::BoundaryInData(boundary.to_string()));
        }
        let fill = |text: &str| {
            let mut out = String::with_capacity(text.len());
            let mut rest = text;
            while let Some(start) = rest.find("{{") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                match after.find("}}") {
                    Some(end) => {
                        let name = after[..end].trim();
                        if name == "boundary" {
                            out.push_str(boundary);
                        } else if let Some(value) = self.values.get(name) {
                            out.push_str(value);
                        }
                        rest = &after[end + 2..];
                    }
                    None => {
                        out.push_str(&rest[start..]);
                        rest = "";
                    }
                }
            }
            out.push_str(rest);
            out
        };
        Ok(RenderedPrompt {
            system: fill(&self.template.system),
            user: fill(&self.template.user),
        })
    }
}

/// One gated exception as the prompts show it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExceptionView {
    /// Suture's signature id (trusted: a hash Suture computed).
    pub signature: String,
    /// What the gate said, in Suture's words (trusted), e.g.
    /// `regression: 120 events in the window, 3.1 expected`.
    pub gate: String,
    /// Exception class or type (untrusted).
    pub exception_type: String,
    /// Message (untrusted).
    pub message: String,
    /// Stack trace, crashing frame last (untrusted).
    pub stack: String,
    /// Breadcrumbs, one per line (untrusted).
    pub breadcrumbs: String,
}

/// Renders the exceptions list: per exception Suture's index, signature and
/// gate summary outside, everything the event carried inside a data block.
fn exceptions(renderer: &mut Renderer<'_>, list: &[ExceptionView]) -> String {
    let mut out = String::new();
    for (index, e) in list.iter().enumerate() {
        let mut data = format!("type: {}\nmessage: {}", e.exception_type, e.message);
        if !e.stack.is_empty() {
            data.push_str(&format!("\nstack:\n{}", e.stack));
        }
        if !e.breadcrumbs.is_empty() {
            data.push_str(&format!("\nbreadcrumbs:\n{}", e.breadcrumbs));
        }
        let block = renderer.block(&data);
        if index > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "Exception {index}\nsignature: {}\ngate: {}\n{block}\n",
            e.signature, e.gate
        ));
    }
    out
}

/// The analyzer's prompt for a batch of gated exceptions.
pub fn render_analyzer(
    template: &Template,
    scrubber: &Scrubber,
    boundary: Boundary,
    list: &[ExceptionView],
) -> Result<RenderedPrompt, PromptError> {
    let mut r = Renderer::new(template, scrubber, boundary);
    let body = exceptions(&mut r, list);
    r.text("exceptions", body)
        .text("count", list.len().to_string())
        .text("max_index", list.len().saturating_sub(1).to_string());
    r.render()
}

/// A changed file of the deploy and its class (runtime, test, docs...).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedFile {
    pub path: String,
    pub class: String,
}

/// What triage shows about a deploy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeployView {
    /// Revision range and environment, as reported (untrusted).
    pub description: String,
    pub changed_files: Vec<ChangedFile>,
    /// The unified diff, already cut to a size the model can take (untrusted).
    pub diff: String,
}

/// The triage prompt for the exceptions that followed a deploy.
pub fn render_triage(
    template: &Template,
    scrubber: &Scrubber,
    boundary: Boundary,
    deploy: &DeployView,
    list: &[ExceptionView],
) -> Result<RenderedPrompt, PromptError> {
    let mut r = Renderer::new(template, scrubber, boundary);
    let files: String = deploy
        .changed_files
        .iter()
        .map(|f| format!("{}\t{}\n", f.path, f.class))
        .collect();
    let body = exceptions(&mut r, list);
    r.data("deploy", &deploy.description)
        .data("changed_files", files.trim_end())
        .data("diff", &deploy.diff)
        .text("exceptions", body)
        .text("count", list.len().to_string());
    r.render()
}

#[cfg(test)]
pub(crate) mod tests;
