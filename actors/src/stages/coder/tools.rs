//! The built-in agent's tools, offered through OpenAI function calling:
//! look around the worktree, run the tests, see the diff, give up. Edits
//! are not a tool: they travel as SEARCH/REPLACE blocks in the reply's
//! text (see `docs/coder.md`).
//!
//! Every call has a timeout and its result is cut to
//! `agent.tool_output_bytes` (head and tail, with a note), so one large
//! file or chatty test run cannot flood the model's context.

use std::time::Duration;

use regex::RegexBuilder;
use serde::Deserialize;
use serde_json::json;

use super::validate::{TestCommand, describe};
use super::workspace::Workspace;
use crate::clients::git::worktree::Worktree;
use crate::clients::llm::{ToolCall, ToolSpec};
use crate::domain::coder::path::RelPath;

/// Most paths one `list_files` returns.
const MAX_LISTED: usize = 400;
/// Most matches one `search` returns.
const MAX_MATCHES: usize = 150;

/// The tools, as offered to the model.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "list_files",
            description: "List the repository's files (tracked and new), optionally under a folder.",
            parameters: json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "a folder, relative to the repository root; empty for all"}
            }}),
        },
        ToolSpec {
            name: "read_file",
            description: "Read a file, or a range of its lines (1-based, inclusive), exactly as it is.",
            parameters: json!({"type": "object", "properties": {
                "path": {"type": "string"},
                "start_line": {"type": "integer", "minimum": 1},
                "end_line": {"type": "integer", "minimum": 1}
            }, "required": ["path"]}),
        },
        ToolSpec {
            name: "search",
            description: "Search the repository's files for a regular expression; answers path:line: text.",
            parameters: json!({"type": "object", "properties": {
                "pattern": {"type": "string"},
                "path": {"type": "string", "description": "only under this folder"}
            }, "required": ["pattern"]}),
        },
        ToolSpec {
            name: "run_tests",
            description: "Run the project's tests on the worktree as it is now and show the result.",
            parameters: json!({"type": "object", "properties": {}}),
        },
        ToolSpec {
            name: "show_diff",
            description: "Show what the edits applied so far changed, as a unified diff.",
            parameters: json!({"type": "object", "properties": {}}),
        },
        ToolSpec {
            name: "give_up",
            description: "End the attempt without a fix, saying why (the bug is not in this code, the fix needs a person, ...).",
            parameters: json!({"type": "object", "properties": {
                "reason": {"type": "string"}
            }, "required": ["reason"]}),
        },
    ]
}

/// What a tool call did.
#[derive(Debug, Clone)]
pub enum ToolOutcome {
    /// Its result, for the model.
    Result(String),
    /// `give_up`, with the model's reason.
    GiveUp(String),
}

/// What the tools work on.
pub struct Tools<'a> {
    pub workspace: &'a Workspace,
    pub worktree: &'a Worktree,
    pub tests: &'a TestCommand,
    pub timeout: Duration,
    pub output_bytes: usize,
}

#[derive(Deserialize, Default)]
struct PathArgs {
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct ReadArgs {
    path: String,
    #[serde(default)]
    start_line: Option<usize>,
    #[serde(default)]
    end_line: Option<usize>,
}

#[derive(Deserialize)]
struct SearchArgs {
    pattern: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct GiveUpArgs {
    reason: String,
}

impl Tools<'_> {
    /// Runs one call. Bad arguments, unknown tools and timeouts are
    /// results the model reads and can correct, never errors of the
    /// attempt.
    pub async fn call(&self, call: &ToolCall) -> ToolOutcome {
        let arguments = if call.arguments.trim().is_empty() {
            "{}"
        } else {
            call.arguments.as_str()
        };
        let result = match call.name.as_str() {
            "give_up" => match serde_json::from_str::<GiveUpArgs>(arguments) {
                Ok(args) => return ToolOutcome::GiveUp(args.reason),
                Err(e) => Err(format!("bad arguments: {e}")),
            },
            // The tests have their own timeout (repo.test_timeout).
            "run_tests" => Ok(self.run_tests().await),
            name => match tokio::time::timeout(self.timeout, self.quick(name, arguments)).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "`{name}` took longer than agent.tool_timeout ({:?}) and was stopped",
                    self.timeout
                )),
            },
        };
        let text = match result {
            Ok(text) => text,
            Err(problem) => format!("error: {problem}"),
        };
        ToolOutcome::Result(cut_middle(&text, self.output_bytes))
    }

    async fn quick(&self, name: &str, arguments: &str) -> Result<String, String> {
        let bad = |e: serde_json::Error| format!("bad arguments for `{name}`: {e}");
        match name {
            "list_files" => {
                let args: PathArgs = serde_json::from_str(arguments).map_err(bad)?;
                self.list(&args.path).await
            }
            "read_file" => {
                let args: ReadArgs = serde_json::from_str(arguments).map_err(bad)?;
                self.read(&args)
            }
            "search" => {
                let args: SearchArgs = serde_json::from_str(arguments).map_err(bad)?;
                self.search(args).await
            }
            "show_diff" => {
                let diff = self.worktree.diff().await.map_err(|e| e.to_string())?;
                Ok(if diff.trim().is_empty() {
                    "no changes yet".into()
                } else {
                    diff
                })
            }
            other => Err(format!(
                "no tool `{other}`; the tools are list_files, read_file, search, run_tests, show_diff and give_up"
            )),
        }
    }

    async fn list(&self, folder: &str) -> Result<String, String> {
        let prefix = folder_prefix(folder)?;
        let files = self.worktree.files().await.map_err(|e| e.to_string())?;
        let listed: Vec<&String> = files.iter().filter(|f| f.starts_with(&prefix)).collect();
        let mut out: String = listed
            .iter()
            .take(MAX_LISTED)
            .map(|f| format!("{f}\n"))
            .collect();
        if listed.len() > MAX_LISTED {
            out.push_str(&format!(
                "[{} more files: list a folder]\n",
                listed.len() - MAX_LISTED
            ));
        }
        if listed.is_empty() {
            out = format!("no files under `{folder}`");
        }
        Ok(out)
    }

    fn read(&self, args: &ReadArgs) -> Result<String, String> {
        let path = RelPath::parse(&args.path).map_err(|e| e.to_string())?;
        let text = self
            .workspace
            .read(&path)?
            .ok_or_else(|| format!("`{path}` does not exist"))?;
        let lines: Vec<&str> = text.lines().collect();
        let total = lines.len();
        let start = args.start_line.unwrap_or(1).max(1);
        let end = args.end_line.unwrap_or(total).min(total);
        if start > end {
            return Ok(format!(
                "`{path}` has {total} lines; lines {start}-{end} are empty"
            ));
        }
        let body = lines[start - 1..end].join("\n");
        Ok(format!(
            "`{path}` lines {start}-{end} of {total}:\n{body}\n"
        ))
    }

    async fn search(&self, args: SearchArgs) -> Result<String, String> {
        let regex = RegexBuilder::new(&args.pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("bad regular expression: {e}"))?;
        let prefix = folder_prefix(&args.path)?;
        let files = self.worktree.files().await.map_err(|e| e.to_string())?;
        let workspace = self.workspace.clone();
        // Reading thousands of files is blocking work.
        tokio::task::spawn_blocking(move || {
            let mut out = String::new();
            let mut matches = 0usize;
            for file in files.iter().filter(|f| f.starts_with(&prefix)) {
                let Ok(path) = RelPath::parse(file) else {
                    continue;
                };
                let Ok(Some(text)) = workspace.read(&path) else {
                    continue;
                };
                for (n, line) in text.lines().enumerate() {
                    if regex.is_match(line) {
                        matches += 1;
                        if matches <= MAX_MATCHES {
                            let line: String = line.chars().take(300).collect();
                            out.push_str(&format!("{file}:{}: {line}\n", n + 1));
                        }
                    }
                }
            }
            if matches > MAX_MATCHES {
                out.push_str(&format!(
                    "[{} more matches: narrow the pattern or the folder]\n",
                    matches - MAX_MATCHES
                ));
            }
            if matches == 0 {
                out = "no matches".into();
            }
            out
        })
        .await
        .map_err(|e| format!("the search failed: {e}"))
    }

    async fn run_tests(&self) -> String {
        let ran = self.tests.run(self.worktree, "tool").await;
        describe(&ran, self.output_bytes)
    }
}

/// `folder` as a path prefix (`""` for everything, else `folder/`).
fn folder_prefix(folder: &str) -> Result<String, String> {
    // Only a trailing slash is dropped: a leading one is an absolute path,
    // which RelPath refuses.
    let folder = folder.trim().trim_end_matches('/');
    if folder.is_empty() || folder == "." {
        return Ok(String::new());
    }
    let path = RelPath::parse(folder).map_err(|e| e.to_string())?;
    Ok(format!("{}/", path.as_str()))
}

/// `text` cut to about `limit` bytes: its head and tail, and a note of
/// what was left out between them.
pub fn cut_middle(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let keep = limit / 2;
    let mut head_end = keep.min(text.len());
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len().saturating_sub(keep);
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!(
        "{}\n[… {} bytes cut: ask for less, e.g. a line range …]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_results_keep_head_and_tail() {
        let text = format!("{}{}", "a".repeat(1000), "b".repeat(1000));
        let cut = cut_middle(&text, 200);
        assert!(cut.starts_with(&"a".repeat(100)));
        assert!(cut.ends_with(&"b".repeat(100)));
        assert!(cut.contains("1800 bytes cut"), "{cut}");
        assert_eq!(cut_middle("short", 200), "short");
        // Never splits a character.
        let wide = "é".repeat(500);
        assert!(cut_middle(&wide, 101).contains("bytes cut"));
    }

    #[test]
    fn folders_are_checked_paths() {
        assert_eq!(folder_prefix(""), Ok(String::new()));
        assert_eq!(folder_prefix("./"), Ok(String::new()));
        assert_eq!(folder_prefix("shop/"), Ok("shop/".into()));
        assert!(folder_prefix("../etc").is_err());
        assert!(folder_prefix("/etc").is_err());
    }

    #[test]
    fn every_tool_has_an_object_schema() {
        for spec in specs() {
            assert_eq!(spec.parameters["type"], "object", "{}", spec.name);
        }
    }
}
