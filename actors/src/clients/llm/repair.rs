//! One repair retry: when the model answers, but not in the shape asked
//! for, it is told what was wrong and asked once more. Anything else (a
//! refusal, a timeout after the client's retries) goes straight to the
//! caller's deterministic path: asking again would not help.

use super::{Answer, LlmClient, LlmError};
use crate::domain::llm::parse::ParseError;
use crate::domain::llm::prompt::RenderedPrompt;

/// The outcome of a call with its repair, and what both attempts cost.
#[derive(Debug)]
pub struct Repaired<T> {
    pub result: Result<Answer<T>, LlmError>,
    /// Tokens of every attempt, valid or not.
    pub tokens: u64,
    /// The invalid first answer, when a repair was asked for (for the audit).
    pub first_invalid: Option<String>,
}

impl LlmClient {
    /// [`LlmClient::ask`], and once more with the parse error when the
    /// first answer fails validation.
    pub async fn ask_with_repair<T>(
        &self,
        prompt: &RenderedPrompt,
        parse: impl Fn(&str) -> Result<T, ParseError>,
    ) -> Repaired<T> {
        match self.ask(prompt, &parse).await {
            Ok(answer) => Repaired {
                tokens: answer.usage.total(),
                result: Ok(answer),
                first_invalid: None,
            },
            Err(LlmError::Invalid { error, raw, usage }) => {
                let repair = repair_prompt(prompt, &error);
                let second = self.ask(&repair, &parse).await;
                let second_tokens = match &second {
                    Ok(a) => a.usage.total(),
                    Err(LlmError::Invalid { usage, .. }) => usage.total(),
                    Err(_) => 0,
                };
                Repaired {
                    result: second,
                    tokens: usage.total().saturating_add(second_tokens),
                    first_invalid: Some(raw),
                }
            }
            Err(other) => Repaired {
                result: Err(other),
                tokens: 0,
                first_invalid: None,
            },
        }
    }
}

/// The same prompt, with the user message followed by what was wrong. The
/// error is Suture's parser's sentence (it may quote the model's output,
/// which the client scrubs like everything else it sends).
pub fn repair_prompt(prompt: &RenderedPrompt, error: &ParseError) -> RenderedPrompt {
    RenderedPrompt {
        system: prompt.system.clone(),
        user: format!(
            "{}\n\nYour previous answer could not be used: {error}. Answer again with one JSON object in the format the first message gives, and nothing else.",
            prompt.user
        ),
    }
}
