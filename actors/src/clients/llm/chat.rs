//! A conversation with tools, as the coding agent holds it: Suture's own
//! message types, translated to async-openai's wire types at the edge so
//! the agent's loop never depends on them.

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestToolMessage, ChatCompletionRequestToolMessageContent,
    ChatCompletionRequestUserMessage, ChatCompletionTool, ChatCompletionTools, FunctionCall,
    FunctionObject,
};

use super::Usage;
use crate::domain::scrub::Scrubber;

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    System(String),
    User(String),
    /// What the model said: text, tool calls, or both.
    Assistant {
        text: String,
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call, answered by its id.
    Tool {
        call_id: String,
        content: String,
    },
}

/// A function the model asked to call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (JSON, unchecked).
    pub arguments: String,
}

/// A function offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// The JSON schema of its arguments.
    pub parameters: serde_json::Value,
}

/// The model's turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The reply's text (empty when it only called tools).
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    /// HTTP attempts made (1 without retries).
    pub attempts: u32,
}

impl ChatMessage {
    /// Bytes of text it carries, for the token estimate.
    pub fn len(&self) -> usize {
        match self {
            ChatMessage::System(text) | ChatMessage::User(text) => text.len(),
            ChatMessage::Assistant { text, tool_calls } => {
                text.len()
                    + tool_calls
                        .iter()
                        .map(|c| c.name.len() + c.arguments.len())
                        .sum::<usize>()
            }
            ChatMessage::Tool { content, .. } => content.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message as it may leave the machine. Prompts were rendered with
    /// data fences (scrubbed piece by piece between them, so a rule cannot
    /// take a fence line); tool results are repository text and test
    /// output, scrubbed whole. The model's own words are sent back as they
    /// came.
    pub(super) fn scrubbed(&self, scrubber: &Scrubber) -> ChatMessage {
        use crate::domain::llm::fence::scrub_between_fences;
        match self {
            ChatMessage::System(text) => ChatMessage::System(scrub_between_fences(scrubber, text)),
            ChatMessage::User(text) => ChatMessage::User(scrub_between_fences(scrubber, text)),
            ChatMessage::Tool { call_id, content } => ChatMessage::Tool {
                call_id: call_id.clone(),
                content: scrubber.scrub(content).into_owned(),
            },
            assistant @ ChatMessage::Assistant { .. } => assistant.clone(),
        }
    }

    pub(super) fn to_wire(&self) -> ChatCompletionRequestMessage {
        match self {
            ChatMessage::System(text) => {
                ChatCompletionRequestSystemMessage::from(text.as_str()).into()
            }
            ChatMessage::User(text) => ChatCompletionRequestUserMessage::from(text.as_str()).into(),
            ChatMessage::Assistant { text, tool_calls } => {
                let mut message = ChatCompletionRequestAssistantMessage::from(text.as_str());
                if text.is_empty() {
                    message.content = None;
                } else {
                    message.content = Some(ChatCompletionRequestAssistantMessageContent::Text(
                        text.clone(),
                    ));
                }
                if !tool_calls.is_empty() {
                    message.tool_calls = Some(
                        tool_calls
                            .iter()
                            .map(|call| {
                                ChatCompletionMessageToolCalls::Function(
                                    ChatCompletionMessageToolCall {
                                        id: call.id.clone(),
                                        function: FunctionCall {
                                            name: call.name.clone(),
                                            arguments: call.arguments.clone(),
                                        },
                                    },
                                )
                            })
                            .collect(),
                    );
                }
                message.into()
            }
            ChatMessage::Tool { call_id, content } => ChatCompletionRequestToolMessage {
                content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
                tool_call_id: call_id.clone(),
            }
            .into(),
        }
    }
}

impl ToolSpec {
    pub(super) fn to_wire(&self) -> ChatCompletionTools {
        ChatCompletionTools::Function(ChatCompletionTool {
            function: FunctionObject {
                name: self.name.to_string(),
                description: Some(self.description.to_string()),
                parameters: Some(self.parameters.clone()),
                strict: None,
            },
        })
    }
}

/// The function calls of a reply (custom tools are not offered, so any
/// the model invents are dropped).
pub(super) fn tool_calls_from_wire(
    calls: Option<Vec<ChatCompletionMessageToolCalls>>,
) -> Vec<ToolCall> {
    calls
        .unwrap_or_default()
        .into_iter()
        .filter_map(|call| match call {
            ChatCompletionMessageToolCalls::Function(call) => Some(ToolCall {
                id: call.id,
                name: call.function.name,
                arguments: call.function.arguments,
            }),
            ChatCompletionMessageToolCalls::Custom(_) => None,
        })
        .collect()
}
