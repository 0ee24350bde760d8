//! `agent.command` as a template: an argv whose arguments may hold
//! `{workdir}` and `{task_file}`, substituted anywhere inside an argument
//! (`--message-file={task_file}` works). The command is never run through a
//! shell, so `$VAR`, quotes and globs mean nothing.
//!
//! A placeholder is `{` + a name (ASCII letters, digits, `_`, not starting
//! with a digit) + `}`. Any other brace is literal text (`{}`, `{"a": 1}`).
//! An unknown name is a configuration error, not passed through silently:
//! `{model}` or `${HOME}` in the command is a mistake the operator should
//! hear about before the first ticket.

/// What the placeholders stand for in one run.
pub(super) struct Values<'a> {
    pub workdir: &'a str,
    pub task_file: &'a str,
}

/// The placeholders a command may use.
pub(super) const KNOWN: &[&str] = &["workdir", "task_file"];

/// Checks a command: not empty, a program, no unknown placeholder, no NUL.
pub(super) fn check(command: &[String]) -> Result<(), String> {
    let Some(program) = command.first() else {
        return Err("agent.command is empty: give the agent's program and its arguments".into());
    };
    if program.trim().is_empty() {
        return Err("agent.command[0], the program, is empty".into());
    }
    for (index, arg) in command.iter().enumerate() {
        if arg.contains('\0') {
            return Err(format!("agent.command[{index}] holds a NUL byte"));
        }
        for name in names(arg) {
            if !KNOWN.contains(&name) {
                return Err(format!(
                    "agent.command[{index}] `{arg}`: unknown placeholder {{{name}}} \
                     (known: {{workdir}}, {{task_file}}; the command is not run through a shell)"
                ));
            }
        }
    }
    Ok(())
}

/// The argv to run: every placeholder replaced by its value. Call after
/// [`check`]; an unknown name is left as it was.
pub(super) fn expand(command: &[String], values: &Values<'_>) -> Vec<String> {
    command
        .iter()
        .map(|arg| {
            let mut out = String::with_capacity(arg.len());
            let mut rest = arg.as_str();
            while let Some((before, name, after)) = next_placeholder(rest) {
                out.push_str(before);
                match name {
                    "workdir" => out.push_str(values.workdir),
                    "task_file" => out.push_str(values.task_file),
                    other => {
                        out.push('{');
                        out.push_str(other);
                        out.push('}');
                    }
                }
                rest = after;
            }
            out.push_str(rest);
            out
        })
        .collect()
}

/// The placeholder names in `arg`, in order.
fn names(arg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some((_, name, after)) = next_placeholder(rest) {
        out.push(name);
        rest = after;
    }
    out
}

/// The first placeholder of `text`: (text before it, its name, text after it).
fn next_placeholder(text: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|i| from + i) {
        let body = &text[open + 1..];
        let len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let name = &body[..len];
        let starts_well = name.chars().next().is_some_and(|c| !c.is_ascii_digit());
        if starts_well && body[len..].starts_with('}') {
            return Some((&text[..open], name, &body[len + 1..]));
        }
        from = open + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    const VALUES: Values<'static> = Values {
        workdir: "/w/T-1-1",
        task_file: "/s/task.md",
    };

    #[test]
    fn placeholders_are_replaced_inside_any_argument_and_other_braces_kept() {
        for (arg, expanded) in [
            ("agent", "agent"),
            ("{workdir}", "/w/T-1-1"),
            ("--message-file={task_file}", "--message-file=/s/task.md"),
            ("{workdir}/src:{task_file}", "/w/T-1-1/src:/s/task.md"),
            // Not placeholders: literal text.
            (r#"{"a": {}}"#, r#"{"a": {}}"#),
            ("{1x}", "{1x}"),
            ("{", "{"),
            ("}{", "}{"),
            ("{{workdir}}", "{/w/T-1-1}"),
        ] {
            let command = strings(&["agent", arg]);
            assert_eq!(check(&command), Ok(()), "{arg}");
            assert_eq!(expand(&command, &VALUES), ["agent", expanded], "{arg}");
        }
    }

    #[test]
    fn unknown_placeholders_empty_commands_and_nul_are_refused() {
        for (command, expected) in [
            (
                strings(&["aider", "--model", "openai/{model}"]),
                "agent.command[2] `openai/{model}`: unknown placeholder {model}",
            ),
            (
                strings(&["sh", "${HOME}/x"]),
                "agent.command[1] `${HOME}/x`: unknown placeholder {HOME}",
            ),
            (strings(&[]), "agent.command is empty"),
            (
                strings(&["  ", "x"]),
                "agent.command[0], the program, is empty",
            ),
            (strings(&["a", "b\0c"]), "agent.command[1] holds a NUL byte"),
        ] {
            let error = check(&command).expect_err("refused");
            assert!(error.starts_with(expected), "{error}");
        }
    }
}
