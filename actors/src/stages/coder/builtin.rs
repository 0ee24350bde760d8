//! The built-in agent: a conversation with the model through async-openai,
//! tools by function calling, edits as SEARCH/REPLACE blocks in plain text.
//!
//! Each model reply is one of:
//! - **tool calls**: run (each with its timeout, its result cut), results
//!   sent back; edit blocks in the same reply are not applied (the model is
//!   told);
//! - **edit blocks, no tool calls**: a proposal. Applied all or nothing
//!   (a block that does not match goes back naming it), then proven (the
//!   guardrails, the tests before and after, the regression test). Proven:
//!   the attempt succeeds. Not: the reasons go back, up to
//!   `agent.max_rounds` proposals;
//! - **neither**: the attempt ends without a fix.
//!
//! Caps: `agent.max_steps` model calls, `agent.max_tokens` tokens, and the
//! attempt's wall time (`agent.timeout`, enforced by the caller).

use super::prove::{Proof, Prover, Tested};
use super::tools::{ToolOutcome, Tools, specs};
use super::transcript::Transcript;
use super::workspace::Workspace;
use crate::clients::llm::{ChatMessage, LlmClient};
use crate::domain::coder::apply::apply_edits;
use crate::domain::coder::edits::parse_edits;
use crate::domain::llm::prompt::RenderedPrompt;
use crate::domain::text::truncate;

/// How the loop ended.
#[derive(Debug)]
pub enum LoopEnd {
    /// A proven fix is in the worktree.
    Fixed(Box<Tested>),
    /// No fix: the model gave up, ended, or ran out of rounds, steps or
    /// tokens. The reason in words.
    NoFix(String),
}

/// What the loop spent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    pub steps: u32,
    pub tokens: u64,
    /// What the tokens cost at `[llm.prices]`.
    pub micro_usd: u64,
}

pub struct BuiltinAgent<'a> {
    pub llm: &'a LlmClient,
    pub tools: Tools<'a>,
    pub prover: Prover<'a>,
    pub workspace: &'a Workspace,
    pub max_steps: u32,
    pub max_tokens: u64,
    pub max_rounds: u32,
    pub output_bytes: usize,
}

impl BuiltinAgent<'_> {
    pub async fn run(
        &self,
        prompt: &RenderedPrompt,
        transcript: &mut Transcript,
        spent: &mut Spent,
    ) -> LoopEnd {
        let tools = specs();
        let mut messages = vec![
            ChatMessage::System(prompt.system.clone()),
            ChatMessage::User(prompt.user.clone()),
        ];
        transcript.record(
            "context",
            &format!(
                "system prompt {} bytes, context {} bytes",
                prompt.system.len(),
                prompt.user.len()
            ),
            None,
        );
        let mut rounds = 0u32;
        loop {
            if spent.steps >= self.max_steps {
                return LoopEnd::NoFix(format!(
                    "no proven fix within agent.max_steps ({} model calls)",
                    self.max_steps
                ));
            }
            if spent.tokens >= self.max_tokens {
                return LoopEnd::NoFix(format!(
                    "no proven fix within agent.max_tokens ({} tokens spent)",
                    spent.tokens
                ));
            }
            spent.steps += 1;
            transcript.step = spent.steps;
            let turn = match self.llm.chat(&messages, &tools).await {
                Ok(turn) => turn,
                Err(e) => return LoopEnd::NoFix(format!("the model call failed: {e}")),
            };
            spent.tokens = spent.tokens.saturating_add(turn.usage.total());
            spent.micro_usd = spent
                .micro_usd
                .saturating_add(self.llm.cost_of(&turn.usage));
            let calls: Vec<&str> = turn.tool_calls.iter().map(|c| c.name.as_str()).collect();
            transcript.record(
                "model",
                &if calls.is_empty() {
                    turn.text.clone()
                } else {
                    format!("{}\n[tool calls: {}]", turn.text, calls.join(", "))
                },
                Some(turn.usage.total()),
            );
            messages.push(ChatMessage::Assistant {
                text: turn.text.clone(),
                tool_calls: turn.tool_calls.clone(),
            });
            if !turn.tool_calls.is_empty() {
                let stray_edits = parse_edits(&turn.text).is_ok_and(|b| !b.is_empty());
                for (n, call) in turn.tool_calls.iter().enumerate() {
                    transcript.record(
                        "tool_call",
                        &format!("{}({})", call.name, truncate(&call.arguments, 500)),
                        None,
                    );
                    match self.tools.call(call).await {
                        ToolOutcome::GiveUp(reason) => {
                            return LoopEnd::NoFix(format!(
                                "the agent gave up: {}",
                                truncate(&reason, 500)
                            ));
                        }
                        ToolOutcome::Result(mut content) => {
                            transcript.record("tool_result", &content, None);
                            if stray_edits && n + 1 == turn.tool_calls.len() {
                                content.push_str("\n\n[suture: your reply also held edit blocks; they were NOT applied. Edits are applied only from a reply without tool calls.]");
                            }
                            messages.push(ChatMessage::Tool {
                                call_id: call.id.clone(),
                                content,
                            });
                        }
                    }
                }
                continue;
            }
            let feedback = match parse_edits(&turn.text) {
                Err(e) => {
                    format!("Your edit blocks could not be read: {e}\nSend all the blocks again.")
                }
                Ok(blocks) if blocks.is_empty() => {
                    return LoopEnd::NoFix(format!(
                        "the model ended without a fix: {}",
                        truncate(turn.text.trim(), 500)
                    ));
                }
                Ok(blocks) => match apply_edits(self.workspace, &blocks) {
                    Err(failure) => {
                        transcript.record("edits", &format!("refused: {failure}"), None);
                        failure.to_string()
                    }
                    Ok(applied) => {
                        if let Err(e) = self.workspace.write(&applied) {
                            return LoopEnd::NoFix(format!("the edits could not be written: {e}"));
                        }
                        let done: Vec<String> = applied
                            .blocks
                            .iter()
                            .map(|b| {
                                format!(
                                    "block {} on {} ({:?}, line {})",
                                    b.index, b.path, b.how, b.at_line
                                )
                            })
                            .collect();
                        transcript.record("edits", &format!("applied: {}", done.join("; ")), None);
                        match self.prover.prove(transcript).await {
                            Proof::Tested(tested) if tested.accepted() => {
                                return LoopEnd::Fixed(tested);
                            }
                            proof => proof.feedback(self.output_bytes),
                        }
                    }
                },
            };
            rounds += 1;
            if rounds >= self.max_rounds {
                return LoopEnd::NoFix(format!(
                    "no proven fix after {rounds} proposals (agent.max_rounds); the last was refused: {}",
                    truncate(&feedback, 1500)
                ));
            }
            messages.push(ChatMessage::User(format!(
                "{feedback}\n\nProposals left: {}.",
                self.max_rounds - rounds
            )));
        }
    }
}
