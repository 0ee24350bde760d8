//! What the coding agent is told: the ticket's evidence and what Suture
//! read around it, rendered into the coder prompt (`prompts/coder.md`) and
//! sized to the agent's context budget.
//!
//! # Sections and their priority
//!
//! The evidence is cut into pieces (one sample, one file's outline, one
//! file of the deploy's diff, one commit...) and the context is filled in
//! this order ([`pieces::pieces`]), each piece kept whole when it fits,
//! cut when it may be and something useful fits, otherwise left out:
//!
//! 1. the root cause and suggested fix, the first error's sample and stack
//!    (frames mapped to repository paths), triage's verdict with its
//!    suspect lines and diff links, the files likely involved;
//! 2. past fixes at the same crash site or for a similar root cause and
//!    what became of them, outlines of the files on the stack (the symbols
//!    enclosing a frame's line marked), related tests, the deploy's diff of
//!    the files on the stack or named by the analysis;
//! 3. the rest of the deploy's diff, the recent commits, the other errors'
//!    samples.
//!
//! Once a piece of a section is cut or left out, the rest of that section
//! is left out too (no test file's diff while a stack file's is missing),
//! and the section ends with a note in Suture's words, such as
//! `[deploy diff cut: 12 of 40 files shown, the last of them in part]`, so
//! the model knows what it does not see; the user message then ends by
//! telling it to read what it needs with its tools.
//!
//! # Sizing
//!
//! The budget is `max_context_tokens` at four bytes a token
//! ([`estimate_tokens`], the rule the LLM client reserves budgets by), for
//! the system and user messages together. The size of every section is
//! measured exactly as it will be rendered (the same data blocks around the
//! same scrubbed text), so the result is within the budget whenever the
//! prompt's fixed text fits in it ([`CoderContext::estimated_tokens`]).
//!
//! # Scrubbing and fencing
//!
//! Everything not computed by Suture (messages, frames, breadcrumbs, the
//! analysis' and triage's prose about them, paths, outlines, test names,
//! diff, commit subjects, the test command) is scrubbed and fenced between
//! the request's random boundary lines by the [`Renderer`]; Suture's own
//! facts (ticket id, counts, gate figures, the base revision's id, the cut
//! notes) stay outside the blocks.

mod cut;
mod pieces;

use crate::domain::diff::CommitSummary;
use crate::domain::llm::budget::{BYTES_PER_TOKEN, estimate_tokens};
use crate::domain::llm::prompt::{
    Boundary, PromptError, RenderedPrompt, Renderer, Template, data_block,
};
use crate::domain::scrub::Scrubber;
use crate::domain::tickets::Ticket;

use super::outline::Outline;
use super::related::RelatedTest;
use cut::CutStyle;
use pieces::Piece;

/// Files on the stack returned by [`stack_files`].
pub const MAX_STACK_FILES: usize = 10;

/// Bytes of a cut piece below which it is left out instead (a few lines of
/// a diff or an outline mislead more than they help); the pieces of the
/// first priority are cut to whatever fits.
const MIN_CUT_BYTES: usize = 400;

/// The last paragraph of the user message when anything was cut.
const OMITTED: &str = "Some evidence was cut to fit your context; each section above says what it leaves out. Read what you need with the tools.";

/// A file on the stack and its outline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutline {
    pub path: String,
    pub outline: Outline,
}

/// What the context is built from: the ticket, and what the caller read
/// from the repository at the base revision.
#[derive(Debug, Clone, Copy)]
pub struct ContextInputs<'a> {
    pub ticket: &'a Ticket,
    /// The full commit id the agent's worktree starts from.
    pub base_revision: &'a str,
    /// `repo.test_command`, as the agent's `run_tests` runs it.
    pub test_command: &'a str,
    /// The deploy's unified diff (`DeployDiff::patch`), when the ticket is
    /// attributed to a deploy and the repository could diff it.
    pub deploy_diff: Option<&'a str>,
    /// Newest first (`Repo::recent_commits`).
    pub recent_commits: &'a [CommitSummary],
    /// Outlines of the files on the stack, crash site first.
    pub outlines: &'a [FileOutline],
    /// `related::related_tests` of the files on the stack.
    pub related_tests: &'a [RelatedTest],
    /// Files the caller knows to be involved beyond the ticket's own and
    /// triage's suspects (shown after them).
    pub file_hints: &'a [String],
    /// Fixes tried before at the same crash site or for a similar root
    /// cause, and what became of them (`domain::memory::relevant`).
    pub past_fixes: &'a [crate::domain::memory::Relevant],
}

impl<'a> ContextInputs<'a> {
    /// The ticket alone; set the other fields for what the caller has.
    pub fn new(ticket: &'a Ticket, base_revision: &'a str, test_command: &'a str) -> Self {
        Self {
            ticket,
            base_revision,
            test_command,
            deploy_diff: None,
            recent_commits: &[],
            outlines: &[],
            related_tests: &[],
            file_hints: &[],
            past_fixes: &[],
        }
    }
}

/// The rendered context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoderContext {
    pub prompt: RenderedPrompt,
    /// System and user message together, at four bytes a token. Above
    /// `max_context_tokens` only when the prompt's fixed text and the
    /// ticket's line alone are.
    pub estimated_tokens: u64,
    /// The notes of every section that was cut or left out (Suture's
    /// words, as in the prompt), for the attempt's transcript.
    pub cuts: Vec<String>,
}

/// The repository paths of the in-app frames of the ticket's samples,
/// innermost first (the first signature's crash site leads), each once,
/// at most [`MAX_STACK_FILES`]: the files to outline and to find tests for.
pub fn stack_files(ticket: &Ticket) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    let frames = ticket
        .signatures
        .iter()
        .flat_map(|s| s.frames.iter().rev())
        .filter(|f| f.in_app);
    for path in frames.filter_map(|f| f.repo_path.as_ref()) {
        if files.len() == MAX_STACK_FILES {
            break;
        }
        if !files.contains(path) {
            files.push(path.clone());
        }
    }
    files
}

/// The coder prompt for `inputs`, within `max_context_tokens`. Fails only
/// when a piece of data contains the boundary ([`PromptError::BoundaryInData`]):
/// draw a new [`Boundary`] and call again.
pub fn render_context(
    template: &Template,
    scrubber: &Scrubber,
    boundary: Boundary,
    inputs: &ContextInputs<'_>,
    max_context_tokens: usize,
) -> Result<CoderContext, PromptError> {
    let budget = max_context_tokens.saturating_mul(BYTES_PER_TOKEN);
    let pieces = pieces::pieces(inputs, scrubber);
    let mut layout = Layout::new(&pieces, inputs, template);
    let measure = |text: &str| data_block(&boundary, text);
    let fixed = render(template, scrubber, &boundary, inputs, None, OMITTED)?;
    let fixed = fixed.system.len() + fixed.user.len();
    let mut total = fixed.saturating_add(layout.len(&pieces, &measure));
    for (index, piece) in pieces.iter().enumerate() {
        total = layout.offer(index, piece, &pieces, &measure, total, budget);
    }
    let cuts = layout.cuts();
    let omitted = if cuts.is_empty() { "" } else { OMITTED };
    let prompt = render(
        template,
        scrubber,
        &boundary,
        inputs,
        Some((&layout, &pieces)),
        omitted,
    )?;
    let estimated_tokens = estimate_tokens(prompt.system.len() + prompt.user.len());
    Ok(CoderContext {
        prompt,
        estimated_tokens,
        cuts,
    })
}

/// The task file for an external agent: the rendered prompt as one
/// Markdown document, the instructions first, then the evidence. Its data
/// blocks keep their boundary lines, which the instructions explain.
pub fn render_task_markdown(prompt: &RenderedPrompt) -> String {
    format!(
        "# Suture: fix this production error\n\n\
         You work in a checkout of the service's repository. Edit its files \
         directly; where the instructions below speak of SEARCH/REPLACE \
         blocks or of tools, use your own means to the same end. Suture \
         reviews the change you leave in the checkout.\n\n\
         ## Instructions\n\n{}\n\n## Evidence\n\n{}\n",
        prompt.system.trim_end(),
        prompt.user.trim_end()
    )
}

/// The slots filled from pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    RootCause,
    Errors,
    Triage,
    Files,
    PastFixes,
    Outlines,
    RelatedTests,
    Diff,
    Commits,
}

impl Slot {
    const ALL: [Slot; 9] = [
        Slot::RootCause,
        Slot::Errors,
        Slot::Triage,
        Slot::Files,
        Slot::PastFixes,
        Slot::Outlines,
        Slot::RelatedTests,
        Slot::Diff,
        Slot::Commits,
    ];

    fn name(self) -> &'static str {
        match self {
            Slot::RootCause => "root_cause",
            Slot::Errors => "errors",
            Slot::Triage => "triage",
            Slot::Files => "files",
            Slot::PastFixes => "past_fixes",
            Slot::Outlines => "outlines",
            Slot::RelatedTests => "related_tests",
            Slot::Diff => "diff",
            Slot::Commits => "commits",
        }
    }

    /// One data block for all its pieces (lists), or one per piece, after
    /// the piece's label (samples, outlines).
    fn shared_block(self) -> bool {
        !matches!(self, Slot::Errors | Slot::Outlines | Slot::PastFixes)
    }

    /// How the cut note names the section and what it counts.
    fn noun(self) -> (&'static str, &'static str) {
        match self {
            Slot::RootCause => ("root cause", "parts"),
            Slot::Errors => ("errors", "errors"),
            Slot::Triage => ("triage verdict", "parts"),
            Slot::Files => ("files likely involved", "files"),
            Slot::PastFixes => ("past fixes", "fixes"),
            Slot::Outlines => ("outlines", "files"),
            Slot::RelatedTests => ("related tests", "tests"),
            Slot::Diff => ("deploy diff", "files"),
            Slot::Commits => ("recent commits", "commits"),
        }
    }

    /// What the slot says when it has nothing to show.
    fn none(self) -> &'static str {
        match self {
            Slot::RootCause => "(none recorded)",
            Slot::Errors => "(no sample recorded)",
            Slot::Triage => "(triage has not judged this ticket)",
            Slot::Files => "(none named)",
            Slot::PastFixes => {
                "(none: no fix was tried before for this crash site or a similar root cause)"
            }
            Slot::Outlines => {
                "(none: no file on the stack is in the repository in a language Suture outlines)"
            }
            Slot::RelatedTests => "(none found by name)",
            Slot::Diff => "(none: no deploy diff was read for this ticket)",
            Slot::Commits => "(none in the window)",
        }
    }
}

/// A piece in the context: its index and its text (cut or whole).
#[derive(Debug, Clone)]
struct Kept {
    piece: usize,
    text: String,
    cut: bool,
}

/// Per slot, the pieces kept so far and whether the slot is closed.
#[derive(Debug, Clone, Default)]
struct SlotState {
    kept: Vec<Kept>,
    total: usize,
    closed: bool,
}

struct Layout {
    /// Each slot, its state, and how many times the template uses it.
    slots: Vec<(Slot, SlotState, usize)>,
    /// Suture's line above the triage block.
    triage_header: Option<String>,
    /// Suture's line above the diff block.
    diff_header: Option<String>,
}

impl Layout {
    fn new(pieces: &[Piece], inputs: &ContextInputs<'_>, template: &Template) -> Self {
        let slots = Slot::ALL
            .iter()
            .map(|&slot| {
                let total = pieces.iter().filter(|p| p.slot == slot).count();
                let state = SlotState {
                    total,
                    ..SlotState::default()
                };
                (slot, state, template.occurrences(slot.name()))
            })
            .collect();
        let triage_header = inputs.ticket.triage.as_ref().map(|t| {
            format!(
                "decision: {}, confidence {:.2}, decided by {}",
                t.decision
                    .map_or("none (a spike: no deploy is blamed)", |d| d.as_str()),
                t.confidence,
                t.method.as_str()
            )
        });
        // Not `from_source`: it quotes the deploy marker's revision, which
        // is not Suture's text.
        let diff_header = inputs
            .ticket
            .triage
            .as_ref()
            .and_then(|t| t.diff.as_ref())
            .map(|d| {
                format!(
                    "{} file{} changed from {} to {}; files on the stack first",
                    d.files.len(),
                    if d.files.len() == 1 { "" } else { "s" },
                    short(&d.from),
                    short(&d.to),
                )
            });
        Self {
            slots,
            triage_header,
            diff_header,
        }
    }

    fn find(&self, slot: Slot) -> Option<(&SlotState, usize)> {
        self.slots
            .iter()
            .find(|(s, _, _)| *s == slot)
            .map(|(_, state, uses)| (state, *uses))
    }

    fn state_mut(&mut self, slot: Slot) -> Option<&mut SlotState> {
        self.slots
            .iter_mut()
            .find(|(s, _, _)| *s == slot)
            .map(|(_, state, _)| state)
    }

    /// Bytes the slots add to the prompt as they stand.
    fn len(&self, pieces: &[Piece], block: &dyn Fn(&str) -> String) -> usize {
        self.slots
            .iter()
            .map(|(slot, state, uses)| {
                uses * self.value(*slot, state, pieces, &mut |t| block(t)).len()
            })
            .sum()
    }

    /// A slot's value as kept, its data blocks made by `block`.
    fn slot_value(
        &self,
        slot: Slot,
        pieces: &[Piece],
        block: &mut dyn FnMut(&str) -> String,
    ) -> String {
        self.find(slot)
            .map(|(state, _)| self.value(slot, state, pieces, block))
            .unwrap_or_default()
    }

    /// Tries `piece` whole, then cut; keeps it when the total stays within
    /// `budget`, else closes its slot. Returns the new total.
    fn offer(
        &mut self,
        index: usize,
        piece: &Piece,
        pieces: &[Piece],
        block: &dyn Fn(&str) -> String,
        total: usize,
        budget: usize,
    ) -> usize {
        let slot = piece.slot;
        let Some((state, uses)) = self.find(slot).map(|(s, uses)| (s.clone(), uses)) else {
            return total;
        };
        if state.closed {
            return total;
        }
        let size =
            |state: &SlotState| uses * self.value(slot, state, pieces, &mut |t| block(t)).len();
        let others = total.saturating_sub(size(&state));
        let with = |text: &str, cut: bool| {
            let mut trial = state.clone();
            trial.kept.push(Kept {
                piece: index,
                text: text.to_string(),
                cut,
            });
            trial.closed = cut;
            (others.saturating_add(size(&trial)), trial)
        };
        let whole = with(&piece.text, false);
        let chosen = if whole.0 <= budget {
            Some(whole)
        } else {
            self.largest_cut(piece, &state, budget, &with)
        };
        let (new_total, new_state) = chosen.unwrap_or_else(|| {
            // Left out: the slot closes, and its note counts the piece.
            let mut closed = state.clone();
            closed.closed = true;
            (others.saturating_add(size(&closed)), closed)
        });
        if let Some(state) = self.state_mut(slot) {
            *state = new_state;
        }
        new_total
    }

    /// The longest cut of `piece` that fits: a binary search on the bytes
    /// given to the cut, whose result grows with them. A cut under
    /// [`MIN_CUT_BYTES`] is taken only for a first-priority piece.
    fn largest_cut(
        &self,
        piece: &Piece,
        state: &SlotState,
        budget: usize,
        with: &dyn Fn(&str, bool) -> (usize, SlotState),
    ) -> Option<(usize, SlotState)> {
        if piece.cut == CutStyle::Never {
            return None;
        }
        let (mut low, mut high) = (0usize, piece.text.len());
        let mut best = None;
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            let fits = cut::cut(&piece.text, mid, piece.cut)
                .map(|text| with(&text, true))
                .filter(|(size, _)| *size <= budget);
            match fits {
                Some(found) => {
                    best = Some((mid, found));
                    low = mid;
                }
                None => high = mid - 1,
            }
        }
        let first_priority = state.kept.is_empty()
            && matches!(piece.slot, Slot::RootCause | Slot::Errors | Slot::Triage);
        best.filter(|(bytes, _)| first_priority || *bytes >= MIN_CUT_BYTES)
            .map(|(_, found)| found)
    }

    /// The notes of the slots that were cut.
    fn cuts(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter_map(|(slot, state, _)| note(*slot, state))
            .collect()
    }

    /// A slot's value: Suture's header, the kept pieces in data blocks
    /// (`block` makes one), and the cut note.
    fn value(
        &self,
        slot: Slot,
        state: &SlotState,
        pieces: &[Piece],
        block: &mut dyn FnMut(&str) -> String,
    ) -> String {
        if state.total == 0 {
            return match slot {
                Slot::Diff if self.diff_header.is_some() => {
                    "(the deploy's diff was not available to this attempt)".to_string()
                }
                _ => slot.none().to_string(),
            };
        }
        let mut out = String::new();
        let header = match slot {
            Slot::Triage => self.triage_header.as_deref(),
            Slot::Diff => self.diff_header.as_deref(),
            _ => None,
        };
        if let Some(header) = header {
            out.push_str(header);
            out.push('\n');
        }
        if slot.shared_block() {
            if !state.kept.is_empty() {
                let joined: Vec<&str> = state.kept.iter().map(|k| k.text.as_str()).collect();
                out.push_str(&block(&joined.join("\n")));
                out.push('\n');
            }
        } else {
            for (n, kept) in state.kept.iter().enumerate() {
                if n > 0 {
                    out.push('\n');
                }
                if let Some(piece) = pieces.get(kept.piece) {
                    out.push_str(&piece.label);
                }
                out.push_str(&block(&kept.text));
                out.push('\n');
            }
        }
        if let Some(note) = note(slot, state) {
            out.push_str(&note);
        }
        out.trim_end().to_string()
    }
}

/// `[deploy diff cut: 12 of 40 files shown, the last of them in part]`, or
/// `None` when the slot is whole.
fn note(slot: Slot, state: &SlotState) -> Option<String> {
    let shown = state.kept.len();
    let partly = state.kept.last().is_some_and(|k| k.cut);
    if shown == state.total && !partly {
        return None;
    }
    let (name, unit) = slot.noun();
    Some(match (shown, partly, state.total) {
        (0, _, total) => format!("[{name} not shown: {total} {unit} left out to fit the context]"),
        (1, true, 1) => format!("[{name} cut: shown in part]"),
        (shown, true, total) => {
            format!("[{name} cut: {shown} of {total} {unit} shown, the last of them in part]")
        }
        (shown, false, total) => format!("[{name} cut: {shown} of {total} {unit} shown]"),
    })
}

/// Fills the template: the fixed slots, and the evidence slots from
/// `filled` (empty without it, to measure the fixed text), each data block
/// made by the renderer (which scrubs again, changing nothing in scrubbed
/// text, and checks the data against the boundary).
fn render(
    template: &Template,
    scrubber: &Scrubber,
    boundary: &Boundary,
    inputs: &ContextInputs<'_>,
    filled: Option<(&Layout, &[Piece])>,
    omitted: &str,
) -> Result<RenderedPrompt, PromptError> {
    let mut r = Renderer::new(template, scrubber, boundary.clone());
    for slot in Slot::ALL {
        let value = match filled {
            Some((layout, pieces)) => layout.slot_value(slot, pieces, &mut |text| r.block(text)),
            None => String::new(),
        };
        r.text(slot.name(), value);
    }
    r.text("ticket", ticket_line(inputs.ticket))
        .text("base_revision", inputs.base_revision)
        .data("test_command", inputs.test_command)
        .text("omitted", omitted);
    r.render()
}

/// Suture's own line about the ticket.
fn ticket_line(ticket: &Ticket) -> String {
    let mut line = format!(
        "{}, severity {}, {} events in the gate's windows, {} error signature{}",
        ticket.id,
        ticket.severity.as_str(),
        ticket.events,
        ticket.signatures.len(),
        if ticket.signatures.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    if let Some(d) = ticket.disposition {
        line.push_str(&format!(", triaged {}", d.as_str()));
    }
    if let Some(deploy) = &ticket.deploy_id {
        line.push_str(&format!(", deploy {deploy}"));
    }
    line
}

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

#[cfg(test)]
mod tests;
