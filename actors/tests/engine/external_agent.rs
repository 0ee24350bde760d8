//! External coding agents (`agent.command`) for real, on a worktree of the
//! py-shop fixture: a fake agent that follows the contract (reads its task
//! file, edits the worktree, dumps what it was given), a stuck agent past
//! its timeout, the sidecar's secrets against a child copy of this test
//! binary, and the real Aider, configured exactly as docs/coder.md says,
//! against the OpenAI stub.
//!
//! Needs python3 with pytest (as `coder_fixtures`: `tests/clients/setup.sh`)
//! and Aider (`scripts/setup-aider.sh`, found through `SUTURE_AIDER_BIN`);
//! without them the tests fail saying so, they never skip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use suture_actors::clients::git::{Repo, Worktree};
use suture_actors::config::AgentConfig;
use suture_actors::domain::coder::edits::parse_edits;
use suture_actors::runtime::sandbox::{Exit, Network, network_isolation_available};
use suture_actors::runtime::task::process_alive;
use suture_actors::stages::coder::external::{ExternalAgent, ExternalTask, LlmEnv};

use crate::coder_fixtures::{Project, fixture, python};
use crate::common::openai_stub::{Reply, Stub};
use crate::repo_git::TestResult;

type Error = Box<dyn std::error::Error>;

/// One attempt on py-shop: the service's repository and a worktree of it.
struct Attempt {
    service: Project,
    _repo: Repo,
    _parent: tempfile::TempDir,
    tree: Worktree,
    /// The run's scratch folder, outside the worktree.
    scratch: tempfile::TempDir,
}

async fn py_shop_attempt(ticket: &str) -> Result<Attempt, Error> {
    let service = Project::new("py-shop")?;
    let base = service.repo.git(&["rev-parse", "HEAD"])?;
    let repo = service.repo.open().await?;
    let parent = tempfile::tempdir()?;
    let tree = repo.add_worktree(parent.path(), ticket, 1, &base).await?;
    Ok(Attempt {
        service,
        _repo: repo,
        _parent: parent,
        tree,
        scratch: tempfile::tempdir()?,
    })
}

/// py-shop's scripted fix (the fix, then a regression test).
fn fix_text() -> Result<String, Error> {
    Ok(std::fs::read_to_string(
        fixture("py-shop").join("fix.edits.txt"),
    )?)
}

/// What the worktree's diff must be after a correct run: the fix applied by
/// Suture's own parser and applier to a fresh copy, diffed the same way.
fn expected_diff() -> Result<String, Error> {
    let project = Project::new("py-shop")?;
    project.apply(&parse_edits(&fix_text()?)?)?;
    project.diff()
}

/// The project's tests pass in `dir`, the regression test among them.
fn assert_pytest_passes(dir: &Path) -> TestResult {
    let python = python().ok_or("no python3 with pytest: run tests/clients/setup.sh")?;
    let out = Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"])
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pytest failed:\n{text}");
    assert!(
        text.contains("PASSED tests/test_api.py::test_checkout_without_a_coupon_field"),
        "{text}"
    );
    Ok(())
}

/// A fake agent that keeps the contract: applies the SEARCH/REPLACE blocks
/// of its task file (`$SUTURE_TASK_FILE`, also its second argument) in the
/// worktree (its first argument), and dumps what it was given to
/// `$HOME/agent-run.json`.
const FAKE_AGENT: &str = r#"
import json, os, sys
workdir, task_arg = sys.argv[1], sys.argv[2]
lines = open(os.environ["SUTURE_TASK_FILE"]).read().split("\n")
applied = 0
i = 0
while i < len(lines):
    if lines[i] == "<<<<<<< SEARCH":
        j = i - 1
        while lines[j].startswith("```") or not lines[j].strip():
            j -= 1
        path = lines[j].strip()
        divider = lines.index("=======", i)
        end = lines.index(">>>>>>> REPLACE", divider)
        search = "\n".join(lines[i + 1:divider]) + "\n"
        replace = "\n".join(lines[divider + 1:end]) + "\n"
        target = os.path.join(workdir, path)
        text = open(target).read()
        if search not in text:
            sys.exit("fake agent: SEARCH not found in " + path)
        open(target, "w").write(text.replace(search, replace, 1))
        applied += 1
        i = end
    i += 1
run = {
    "env": dict(os.environ),
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "stdin": os.readlink("/proc/self/fd/0"),
}
json.dump(run, open(os.path.join(os.environ["HOME"], "agent-run.json"), "w"))
print("fake agent: applied %d blocks" % applied)
"#;

/// The python3 interpreter itself: `python3` on PATH may be a wrapper (a
/// pyenv shim) that adds variables of its own to what the agent sees.
fn interpreter() -> Result<String, Error> {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()?;
    let path = String::from_utf8(out.stdout)?.trim().to_string();
    if !out.status.success() || path.is_empty() {
        return Err("python3 is missing".into());
    }
    Ok(path)
}

fn fake_agent(tools: &Path, network: Network) -> Result<ExternalAgent, Error> {
    let script = tools.join("fake_agent.py");
    std::fs::write(&script, FAKE_AGENT)?;
    Ok(ExternalAgent {
        command: vec![
            interpreter()?,
            script.to_string_lossy().into_owned(),
            "{workdir}".into(),
            "{task_file}".into(),
        ],
        timeout: Duration::from_secs(120),
        network,
        output_limit: 64 * 1024,
        extra_env: vec![("FAKE_AGENT_MODE".into(), "edit".into())],
    })
}

/// What the fake agent dumped.
fn agent_run(scratch: &Path) -> Result<Value, Error> {
    let text = std::fs::read_to_string(scratch.join("home/agent-run.json"))?;
    Ok(serde_json::from_str(&text)?)
}

fn env_names(run: &Value) -> BTreeSet<String> {
    run["env"]
        .as_object()
        .map(|env| env.keys().cloned().collect())
        .unwrap_or_default()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The base environment plus Suture's two variables and `agent.env`'s one.
const WITHOUT_LLM: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "FAKE_AGENT_MODE",
    "SUTURE_TICKET",
    "SUTURE_TASK_FILE",
];

/// ... and the LLM endpoint, with `pass_llm_env`.
const LLM_VARS: &[&str] = &[
    "OPENAI_API_BASE",
    "OPENAI_BASE_URL",
    "SUTURE_LLM_MODEL",
    "OPENAI_API_KEY",
];

#[tokio::test]
async fn a_fake_agent_fixes_py_shop_from_its_task_file() -> TestResult {
    let attempt = py_shop_attempt("T-1").await?;
    let tools = tempfile::tempdir()?;
    // It needs no network: it runs without (where the sidecar may isolate).
    let agent = fake_agent(tools.path(), Network::None)?;
    agent.validate()?;
    let task = format!(
        "# T-1: KeyError: 'coupon' in order_total\n\nApply these edits exactly:\n\n{}",
        fix_text()?
    );
    let outcome = agent
        .run(ExternalTask {
            ticket: "T-1",
            workdir: &attempt.tree.path,
            task_markdown: &task,
            scratch: attempt.scratch.path(),
            llm: Some(LlmEnv {
                base_url: "http://127.0.0.1:9/v1".into(),
                model: "local-coder".into(),
                api_key: Some("sk-passed-on-purpose".into()),
            }),
        })
        .await?;
    let output = &outcome.contained.output;
    assert_eq!(outcome.contained.exit, Exit::Code(0), "{output}");
    assert_eq!(output, "fake agent: applied 2 blocks\n");
    assert_eq!(
        outcome.contained.network_isolated,
        network_isolation_available()
    );

    // The fix is in the worktree, and only the fix.
    assert_eq!(attempt.tree.diff().await?, expected_diff()?);
    assert_pytest_passes(&attempt.tree.path)?;

    // What the agent was given.
    let task_file = attempt.scratch.path().join("task.md");
    assert_eq!(outcome.task_file, task_file);
    assert_eq!(std::fs::read_to_string(&task_file)?, task);
    let tree_path = attempt.tree.path.to_string_lossy().into_owned();
    let task_path = task_file.to_string_lossy().into_owned();
    assert_eq!(outcome.argv[2..], [tree_path.clone(), task_path.clone()]);
    let run = agent_run(attempt.scratch.path())?;
    assert_eq!(run["argv"], serde_json::json!([tree_path, task_path]));
    assert_eq!(
        PathBuf::from(run["cwd"].as_str().unwrap_or_default()).canonicalize()?,
        attempt.tree.path.canonicalize()?
    );
    assert_eq!(run["stdin"], "/dev/null");
    let all: Vec<&str> = WITHOUT_LLM.iter().chain(LLM_VARS).copied().collect();
    assert_eq!(env_names(&run), names(&all));
    let env = &run["env"];
    let home = attempt.scratch.path().join("home");
    assert_eq!(env["HOME"], home.to_string_lossy().as_ref());
    assert_eq!(env["TMPDIR"], home.join("tmp").to_string_lossy().as_ref());
    assert_eq!(env["LC_ALL"], "C.UTF-8");
    assert_eq!(env["SUTURE_TICKET"], "T-1");
    assert_eq!(env["SUTURE_TASK_FILE"], task_path.as_str());
    assert_eq!(env["FAKE_AGENT_MODE"], "edit");
    assert_eq!(env["OPENAI_API_BASE"], "http://127.0.0.1:9/v1");
    assert_eq!(env["OPENAI_BASE_URL"], "http://127.0.0.1:9/v1");
    assert_eq!(env["SUTURE_LLM_MODEL"], "local-coder");
    assert_eq!(env["OPENAI_API_KEY"], "sk-passed-on-purpose");

    // The service's own checkout is untouched.
    assert_eq!(attempt.service.repo.git(&["status", "--porcelain"])?, "");
    Ok(())
}

#[tokio::test]
async fn without_pass_llm_env_an_agent_gets_no_llm_variables() -> TestResult {
    let attempt = py_shop_attempt("T-2").await?;
    let tools = tempfile::tempdir()?;
    let agent = fake_agent(tools.path(), Network::Host)?;
    let outcome = agent
        .run(ExternalTask {
            ticket: "T-2",
            workdir: &attempt.tree.path,
            task_markdown: "# T-2\n\nNothing to apply.\n",
            scratch: attempt.scratch.path(),
            llm: None,
        })
        .await?;
    assert_eq!(outcome.contained.exit, Exit::Code(0));
    assert!(!outcome.contained.network_isolated);
    assert_eq!(
        env_names(&agent_run(attempt.scratch.path())?),
        names(WITHOUT_LLM)
    );
    assert_eq!(attempt.tree.diff().await?, "", "an agent that did nothing");
    Ok(())
}

/// The variable that makes [`secret_probe`] run, holding its output folder.
const PROBE_OUT: &str = "SUTURE_TEST_SECRET_PROBE_OUT";

/// Secrets the sidecar's own environment holds, each unique.
const SIDECAR_SECRETS: &[(&str, &str)] = &[
    ("GITHUB_TOKEN", "ghp_sidecar_github_token_4b1d"),
    ("SUTURE_ADMIN_TOKEN", "sidecar-admin-token-77e2"),
    ("SUTURE_GITHUB__TOKEN", "ghp_sidecar_config_token_9c0a"),
    ("OPENAI_API_KEY", "sk-sidecar-own-key-3f8e"),
    ("AWS_SECRET_ACCESS_KEY", "aws-sidecar-secret-51aa"),
];

/// Runs [`secret_probe`] in a child copy of this test binary whose
/// environment holds the sidecar's secrets, as a real sidecar's would:
/// the agents it starts, with and without the LLM variables, see none.
#[test]
fn the_sidecars_secrets_never_reach_an_agent() -> TestResult {
    let out = tempfile::tempdir()?;
    let mut probe = Command::new(std::env::current_exe()?);
    probe
        .args([
            "--exact",
            "external_agent::secret_probe",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(PROBE_OUT, out.path());
    for (name, value) in SIDECAR_SECRETS {
        probe.env(name, value);
    }
    let ran = probe.output()?;
    let report = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success() && report.contains("1 passed"),
        "{report}{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    for (file, passed_key) in [
        ("with-llm.json", Some("sk-passed-on-purpose")),
        ("without-llm.json", None),
    ] {
        let text = std::fs::read_to_string(out.path().join(file))?;
        let env: BTreeMap<String, String> = serde_json::from_str(&text)?;
        for (name, secret) in SIDECAR_SECRETS {
            assert!(
                env.iter().all(|(_, v)| !v.contains(secret)),
                "{file}: the sidecar's {name} reached the agent"
            );
        }
        assert!(!env.contains_key("GITHUB_TOKEN") && !env.contains_key("SUTURE_ADMIN_TOKEN"));
        assert_eq!(
            env.get("OPENAI_API_KEY").map(String::as_str),
            passed_key,
            "{file}"
        );
    }
    Ok(())
}

/// Run by [`the_sidecars_secrets_never_reach_an_agent`] in a child process
/// (it needs the secrets in its own environment); fails when run alone.
#[tokio::test]
#[ignore = "run by the_sidecars_secrets_never_reach_an_agent, in a child process holding the secrets"]
async fn secret_probe() -> TestResult {
    let out = PathBuf::from(std::env::var_os(PROBE_OUT).ok_or(
        "run by external_agent::the_sidecars_secrets_never_reach_an_agent, which sets the secrets",
    )?);
    for (name, value) in SIDECAR_SECRETS {
        assert_eq!(
            std::env::var(name).ok().as_deref(),
            Some(*value),
            "the probe must hold {name}"
        );
    }
    let workdir = tempfile::tempdir()?;
    for (file, llm) in [
        (
            "with-llm.json",
            Some(LlmEnv {
                base_url: "http://127.0.0.1:9/v1".into(),
                model: "local-coder".into(),
                api_key: Some("sk-passed-on-purpose".into()),
            }),
        ),
        ("without-llm.json", None),
    ] {
        let scratch = tempfile::tempdir()?;
        let dump = out.join(file).to_string_lossy().into_owned();
        let agent = ExternalAgent {
            command: vec![
                "python3".into(),
                "-c".into(),
                "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))".into(),
                dump,
            ],
            timeout: Duration::from_secs(60),
            network: Network::Host,
            output_limit: 4096,
            extra_env: Vec::new(),
        };
        let outcome = agent
            .run(ExternalTask {
                ticket: "T-3",
                workdir: workdir.path(),
                task_markdown: "# T-3\n",
                scratch: scratch.path(),
                llm,
            })
            .await?;
        assert_eq!(
            outcome.contained.exit,
            Exit::Code(0),
            "{}",
            outcome.contained.output
        );
    }
    Ok(())
}

/// Live processes whose process group is `pgid` (zombies count as gone).
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // After the command's `(name)`: state, ppid, pgrp, ...
                    let fields: Vec<String> = stat
                        .rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .take(3)
                        .map(str::to_string)
                        .collect();
                    let live = fields.first().is_some_and(|s| s != "Z" && s != "X");
                    Some(live && fields.get(2)?.parse::<u32>().ok()? == pgid)
                })
                .unwrap_or(false)
        })
        .collect()
}

#[tokio::test]
async fn a_stuck_agent_is_killed_at_its_timeout_with_everything_it_started() -> TestResult {
    let workdir = tempfile::tempdir()?;
    let scratch = tempfile::tempdir()?;
    let timeout = Duration::from_secs(5);
    let agent = ExternalAgent {
        command: vec![
            "sh".into(),
            "-c".into(),
            // A child it forks, whose pid it records with its own, then hangs.
            "sleep 1000 & echo $$ $! > \"$HOME/pids\"; sleep 1000".into(),
        ],
        timeout,
        network: Network::Host,
        output_limit: 4096,
        extra_env: Vec::new(),
    };
    let outcome = agent
        .run(ExternalTask {
            ticket: "T-4",
            workdir: workdir.path(),
            task_markdown: "# T-4\n",
            scratch: scratch.path(),
            llm: None,
        })
        .await?;
    assert_eq!(outcome.contained.exit, Exit::TimedOut);
    assert!(outcome.contained.elapsed >= timeout);
    let pids: Vec<u32> = std::fs::read_to_string(scratch.path().join("home/pids"))?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [leader, forked] = pids[..] else {
        return Err(format!("pids: {pids:?}").into());
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (process_alive(leader) || process_alive(forked) || !group_members(leader).is_empty())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!process_alive(leader), "the agent outlived its timeout");
    assert!(
        !process_alive(forked),
        "the agent's child outlived its timeout"
    );
    assert_eq!(
        group_members(leader),
        Vec::<u32>::new(),
        "its group lives on"
    );
    Ok(())
}

/// Aider: `SUTURE_AIDER_BIN`, else the workspace's `.cache/aider-venv`.
pub(crate) fn aider_bin() -> Result<PathBuf, Error> {
    let path = match std::env::var_os("SUTURE_AIDER_BIN") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/aider-venv/bin/aider"),
    };
    if !path.is_file() {
        return Err(format!(
            "aider not found at {}: run scripts/setup-aider.sh (it prints the path to put in SUTURE_AIDER_BIN)",
            path.display()
        )
        .into());
    }
    Ok(path)
}

/// The Aider configuration in docs/coder.md, read as the sidecar reads it.
#[derive(serde::Deserialize)]
pub(crate) struct DocConfig {
    pub(crate) agent: AgentConfig,
}

/// Paths the documented configuration uses, replaced by the test's.
pub(crate) const DOC_AIDER: &str = "/opt/aider/bin/aider";
pub(crate) const DOC_METADATA: &str = "/etc/suture/aider-models.json";

/// The first fenced block of `language` after `heading` in docs/coder.md.
pub(crate) fn doc_block(doc: &str, heading: &str, language: &str) -> Result<String, Error> {
    let section = doc
        .split_once(heading)
        .ok_or_else(|| format!("docs/coder.md has no `{heading}`"))?
        .1;
    let body = section
        .split_once(&format!("\n```{language}\n"))
        .ok_or_else(|| format!("no {language} block after `{heading}`"))?
        .1;
    Ok(body
        .split_once("\n```\n")
        .ok_or("an unclosed block")?
        .0
        .to_string())
}

/// The Aider configuration of docs/coder.md, with this machine's aider and
/// the documented model metadata written to a temporary file (kept alive
/// by `metadata`), and the model name the command asks for.
pub(crate) struct DocAider {
    pub(crate) config: AgentConfig,
    pub(crate) model: String,
    pub(crate) metadata: tempfile::TempDir,
}

pub(crate) fn doc_aider() -> Result<DocAider, Error> {
    let aider = aider_bin()?;
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/coder.md"))?;
    let heading = "### A working Aider configuration";
    let mut config = toml::from_str::<DocConfig>(&doc_block(&doc, heading, "toml")?)?.agent;
    let metadata = tempfile::tempdir()?;
    let metadata_file = metadata.path().join("aider-models.json");
    std::fs::write(&metadata_file, doc_block(&doc, heading, "json")?)?;
    for arg in &mut config.command {
        if arg == DOC_AIDER {
            *arg = aider.to_string_lossy().into_owned();
        } else if arg == DOC_METADATA {
            *arg = metadata_file.to_string_lossy().into_owned();
        }
    }
    let model = config
        .command
        .iter()
        .find_map(|a| a.strip_prefix("openai/"))
        .ok_or("no --model openai/<model> in the documented command")?
        .to_string();
    Ok(DocAider {
        config,
        model,
        metadata,
    })
}

#[tokio::test]
async fn aider_fixes_py_shop_as_configured_in_the_docs() -> TestResult {
    let DocAider {
        mut config,
        model,
        metadata: _metadata,
    } = doc_aider()?;
    config.validate()?;
    assert!(
        config.pass_llm_env,
        "Aider gets its endpoint and key from the environment"
    );
    config.timeout = config.timeout.min(Duration::from_secs(300));
    let agent = ExternalAgent::from_config(&config);
    agent.validate()?;

    // One request when the task names the files (docs/coder.md); spare
    // answers keep a second one from failing on an empty script.
    let stub = Stub::start(vec![Reply::answer(&fix_text()?); 4]).await;
    let key = "sk-suture-aider-test-5e9d";
    let attempt = py_shop_attempt("T-42").await?;
    let service_config = attempt.service.repo.path().join(".git/config");
    let config_before = std::fs::read_to_string(&service_config)?;
    let task = "# Ticket T-42: KeyError coupon in order_total\n\n\
                The checkout handler fails with KeyError: 'coupon' in shop/orders.py, \
                line 44, in order_total, for a checkout request without the optional \
                coupon field. Fix it, and add a regression test to tests/test_api.py.\n";
    let outcome = agent
        .run(ExternalTask {
            ticket: "T-42",
            workdir: &attempt.tree.path,
            task_markdown: task,
            scratch: attempt.scratch.path(),
            llm: Some(LlmEnv {
                base_url: stub.base_url.clone(),
                model,
                api_key: Some(key.into()),
            }),
        })
        .await?;
    let output = &outcome.contained.output;
    assert_eq!(outcome.contained.exit, Exit::Code(0), "{output}");
    assert!(
        output.contains("Applied edit to shop/orders.py"),
        "{output}"
    );
    assert!(
        !outcome.argv.iter().any(|a| a.contains(key)),
        "a key in argv"
    );

    assert_eq!(attempt.tree.diff().await?, expected_diff()?, "{output}");
    assert_pytest_passes(&attempt.tree.path)?;
    assert_eq!(
        std::fs::read_to_string(&service_config)?,
        config_before,
        "Aider changed the service's git config"
    );

    // One request, with our key, the task, and the files it names.
    let requests = stub.requests();
    assert_eq!(requests.len(), 1, "{output}");
    let request = &requests[0];
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {key}").as_str())
    );
    for expected in [
        "Ticket T-42: KeyError coupon in order_total",
        "def order_total(order):",
        "def test_checkout_refuses_bad_requests():",
    ] {
        assert!(
            request.body.contains(expected),
            "{expected}: {}",
            request.body
        );
    }
    eprintln!("aider: {:?}", outcome.contained.elapsed);
    Ok(())
}
