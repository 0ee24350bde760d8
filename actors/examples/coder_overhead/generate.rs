//! A service repository to run attempts in: `files` tracked files laid
//! out like a Python web service with a TypeScript front end (nested
//! packages, a mirrored `tests/` tree, docs and configuration, a few large
//! fixtures and a vendored bundle), one big root commit three days old,
//! then 35 small commits over the last day, the last of them a "deploy"
//! that touches 30 files (the crash site among them). Packed, as a clone
//! is. Deterministic: the same `files` gives the same repository.
//!
//! Sizes: most modules a few kilobytes, a tail of larger ones, about 3 KB
//! a file on average (58.7 MB at 20,000 files).

use std::path::{Path, PathBuf};
use std::process::Command;

use fastrand::Rng;

pub type Error = Box<dyn std::error::Error>;

const AREAS: &[&str] = &[
    "billing",
    "orders",
    "catalog",
    "accounts",
    "shipping",
    "search",
    "payments",
    "notifications",
    "reports",
    "inventory",
    "pricing",
    "checkout",
    "auth",
    "analytics",
    "support",
    "media",
];
const LAYERS: &[&str] = &[
    "api",
    "models",
    "services",
    "tasks",
    "utils",
    "views",
    "serializers",
    "adapters",
    "rules",
    "events",
];
const NOUNS: &[&str] = &[
    "invoice",
    "order",
    "cart",
    "coupon",
    "customer",
    "address",
    "tax",
    "refund",
    "price",
    "discount",
    "shipment",
    "label",
    "carrier",
    "session",
    "token",
    "export",
    "stock",
    "warehouse",
    "product",
    "variant",
    "review",
    "rating",
    "webhook",
    "ledger",
    "currency",
    "receipt",
    "subscription",
];
const ROLES: &[&str] = &[
    "rules", "service", "client", "schema", "store", "cache", "queue", "helpers", "views",
];

/// Python modules per package folder.
const PER_FOLDER: usize = 18;
/// Commits after the root one; the last is the deploy.
const LATER_COMMITS: usize = 35;
/// Files the deploy commit changes.
const DEPLOY_FILES: usize = 30;

/// One in-app frame of the ticket's stack, oldest call first.
#[derive(Debug, Clone)]
pub struct StackFrame {
    pub path: String,
    pub function: String,
    pub line: u32,
}

/// The repository and what the ticket and the model's reply need from it.
pub struct Generated {
    pub root: PathBuf,
    pub files: usize,
    pub bytes: u64,
    pub commits: usize,
    /// The deploy commit (tip of `main`) and its parent.
    pub head: String,
    pub deploy_parent: String,
    /// The in-app frames, crash site last.
    pub stack: Vec<StackFrame>,
    /// The crash site's test file (`tests/...`).
    pub crash_test: String,
    /// The crashing function's first lines at the head, as the model
    /// would quote them in a SEARCH block.
    pub crash_lines: Vec<String>,
}

/// A Python module of the service.
struct Module {
    path: String,
    test: Option<String>,
}

/// Writes the repository into `root` (an empty folder).
pub fn repository(root: &Path, files: usize) -> Result<Generated, Error> {
    let mut rng = Rng::with_seed(files as u64);
    let mut writer = Writer {
        root: root.to_path_buf(),
        count: 0,
        bytes: 0,
    };
    git(root, &["init", "-q", "-b", "main"], None)?;
    writer.write(
        ".gitignore",
        "__pycache__/\n*.pyc\nnode_modules/\n.venv/\ndist/\n",
    )?;
    writer.write("README.md", &prose(&mut rng, 40))?;
    writer.write(
        "pyproject.toml",
        "[project]\nname = \"shop\"\nversion = \"4.2.0\"\n\n[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n",
    )?;

    let large = 2 + files / 1000;
    let docs = files * 3 / 100;
    let web = files * 8 / 100;
    let python = files.saturating_sub(writer.count + large + docs + web);

    for i in 0..large {
        let (path, text) = large_file(&mut rng, i);
        writer.write(&path, &text)?;
    }
    for i in 0..docs {
        let area = AREAS[i % AREAS.len()];
        if i % 4 == 3 {
            writer.write(&format!("config/{area}/settings_{i}.yaml"), &yaml(&mut rng))?;
        } else {
            writer.write(&format!("docs/{area}/topic_{i}.md"), &prose(&mut rng, 30))?;
        }
    }
    for i in 0..web {
        let name = format!("{}{}", title(NOUNS[i / 2 % NOUNS.len()]), i / 2);
        let folder = format!("web/src/components/{}", AREAS[i / 40 % AREAS.len()]);
        if i % 2 == 0 {
            writer.write(&format!("{folder}/{name}.tsx"), &component(&mut rng, &name))?;
        } else {
            writer.write(&format!("{folder}/{name}.test.tsx"), &component_test(&name))?;
        }
    }
    let modules = python_tree(&mut writer, &mut rng, python)?;
    if writer.count != files {
        return Err(format!("{} files written, {files} planned", writer.count).into());
    }

    // The stack: modules of four neighbouring packages, the crash site
    // last, which has a test file.
    let crash_index = modules
        .iter()
        .enumerate()
        .skip(modules.len() / 2)
        .find(|(_, m)| m.test.is_some())
        .map(|(i, _)| i)
        .ok_or("no python module with a test file")?;
    let stack_modules: Vec<&Module> = (0..4)
        .map(|back| &modules[crash_index.saturating_sub((3 - back) * PER_FOLDER)])
        .collect();
    let crash = stack_modules[3];
    let crash_test = crash.test.clone().ok_or("the crash site has no test")?;

    git(root, &["add", "-A"], None)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let root_time = now - 3 * 86_400;
    git(
        root,
        &["commit", "-q", "-m", "Import the shop service"],
        Some(root_time),
    )?;

    // Later history: small changes, then the deploy.
    let first = now - 86_400 + 3_600;
    let mut deploy_parent = String::new();
    for c in 0..LATER_COMMITS {
        let deploy = c + 1 == LATER_COMMITS;
        let mut touched: Vec<&Module> = if deploy {
            deploy_parent = git(root, &["rev-parse", "HEAD"], None)?;
            let mut picked: Vec<&Module> = (0..DEPLOY_FILES - 1)
                .map(|_| &modules[rng.usize(..modules.len())])
                .collect();
            picked.push(crash);
            picked
        } else {
            (0..1 + rng.usize(..4))
                .map(|_| &modules[rng.usize(..modules.len())])
                .collect()
        };
        touched.sort_by(|a, b| a.path.cmp(&b.path));
        touched.dedup_by(|a, b| a.path == b.path);
        for module in &touched {
            retune(&root.join(&module.path), &mut rng)?;
            git(root, &["add", "--", &module.path], None)?;
        }
        let subject = if deploy {
            "Deploy: tune the order limits".to_string()
        } else {
            format!("Tune {} limits", touched.len())
        };
        git(
            root,
            &["commit", "-q", "-m", &subject],
            Some(first + c as u64 * 1_200),
        )?;
    }
    git(root, &["repack", "-a", "-d", "-q"], None)?;
    git(root, &["prune"], None)?;
    let head = git(root, &["rev-parse", "HEAD"], None)?;

    let stack = stack_modules
        .iter()
        .map(|m| frame(root, &m.path))
        .collect::<Result<Vec<_>, _>>()?;
    let crash_lines = first_function(&std::fs::read_to_string(root.join(&crash.path))?)
        .ok_or("the crash site has no function")?;
    Ok(Generated {
        root: root.to_path_buf(),
        files: writer.count,
        bytes: writer.bytes,
        commits: 1 + LATER_COMMITS,
        head,
        deploy_parent,
        stack,
        crash_test,
        crash_lines,
    })
}

/// Runs git in `dir` with no user configuration; `at` sets the commit's
/// author and committer time (epoch seconds). Returns stdout, trimmed.
fn git(dir: &Path, args: &[&str], at: Option<u64>) -> Result<String, Error> {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Dev", "-c", "user.email=dev@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    if let Some(at) = at {
        let date = format!("@{at} +0000");
        command
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
    }
    let out = command.output()?;
    if !out.status.success() {
        return Err(format!(
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

struct Writer {
    root: PathBuf,
    count: usize,
    bytes: u64,
}

impl Writer {
    fn write(&mut self, path: &str, text: &str) -> Result<(), Error> {
        let file = self.root.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, text)?;
        self.count += 1;
        self.bytes += text.len() as u64;
        Ok(())
    }
}

/// `budget` files of Python: packages of [`PER_FOLDER`] modules (each with
/// its `__init__.py`), nested deeper once every area and layer has one,
/// and tests mirroring about half of the modules.
fn python_tree(writer: &mut Writer, rng: &mut Rng, budget: usize) -> Result<Vec<Module>, Error> {
    let mut modules = Vec::new();
    let mut used = 0;
    let mut folder = 0;
    while used < budget {
        let area = AREAS[folder % AREAS.len()];
        let layer = LAYERS[folder / AREAS.len() % LAYERS.len()];
        let depth = folder / (AREAS.len() * LAYERS.len());
        let package = if depth == 0 {
            format!("{area}/{layer}")
        } else {
            format!("{area}/{layer}/part{depth}")
        };
        writer.write(&format!("src/shop/{package}/__init__.py"), "")?;
        used += 1;
        for slot in 0..PER_FOLDER {
            if used >= budget {
                break;
            }
            let n = folder * PER_FOLDER + slot;
            let name = format!(
                "{}_{}_{n}",
                NOUNS[n % NOUNS.len()],
                ROLES[n / NOUNS.len() % ROLES.len()]
            );
            let path = format!("src/shop/{package}/{name}.py");
            let functions = module(rng, area, &name);
            writer.write(&path, &functions.text)?;
            used += 1;
            let test = if used < budget && rng.bool() {
                let test = format!("tests/{package}/test_{name}.py");
                writer.write(&test, &module_test(rng, &package, &name, &functions.names))?;
                used += 1;
                Some(test)
            } else {
                None
            };
            modules.push(Module { path, test });
        }
        folder += 1;
    }
    Ok(modules)
}

struct Source {
    text: String,
    names: Vec<String>,
}

/// A module: imports, constants, a class, and functions; 2 to about 50
/// of them (most files a few KB, a tail of large ones).
fn module(rng: &mut Rng, area: &str, name: &str) -> Source {
    let mut count = 2 + rng.usize(..9);
    if rng.u8(..) < 30 {
        count += rng.usize(..40);
    }
    let mut text = format!(
        "\"\"\"{} {}: {}.\"\"\"\n\nfrom __future__ import annotations\n\nimport logging\nfrom decimal import Decimal\n\nfrom shop.{area}.models import Record\n\nlog = logging.getLogger(__name__)\n\nDEFAULT_LIMIT = {}\n\n\nclass {}(Record):\n    \"\"\"Rules for {name}.\"\"\"\n\n    def __init__(self, store, limit=DEFAULT_LIMIT):\n        self.store = store\n        self.limit = limit\n\n    def load(self, key):\n        row = self.store.get(key)\n        if row is None:\n            raise KeyError(key)\n        return row\n\n",
        title(area),
        name,
        words(rng, 6),
        rng.u32(10..500),
        title(&name.replace('_', " ")).replace(' ', ""),
    );
    let mut names = Vec::new();
    for f in 0..count {
        let function = format!("{}_{}_{f}", verb(rng), NOUNS[rng.usize(..NOUNS.len())]);
        text.push_str(&format!(
            "\ndef {function}(order, options=None):\n    \"\"\"{}.\"\"\"\n    limit = {}\n    total = Decimal(0)\n    for item in order.get(\"items\", [])[:limit]:\n        total += Decimal(str(item[\"price\"])) * item[\"quantity\"]\n    if options and options.get(\"{}\"):\n        total = total * Decimal(\"0.{}\")\n    log.debug(\"{function}: %s items\", len(order.get(\"items\", [])))\n    return total\n\n",
            words(rng, 8),
            rng.u32(1..200),
            NOUNS[rng.usize(..NOUNS.len())],
            rng.u32(50..99),
        ));
        names.push(function);
    }
    Source { text, names }
}

fn module_test(rng: &mut Rng, package: &str, name: &str, functions: &[String]) -> String {
    let import = package.replace('/', ".");
    let mut text = format!("import pytest\n\nfrom shop.{import}.{name} import *  # noqa\n\n");
    for function in functions.iter().take(1 + rng.usize(..6)) {
        text.push_str(&format!(
            "\ndef test_{function}_sums_items():\n    order = {{\"items\": [{{\"price\": \"2.50\", \"quantity\": 2}}]}}\n    assert {function}(order) == 5\n\n\ndef test_{function}_empty():\n    assert {function}({{}}) == 0\n\n"
        ));
    }
    text
}

fn component(rng: &mut Rng, name: &str) -> String {
    let mut text = format!(
        "import React from \"react\";\n\nexport interface {name}Props {{\n  id: string;\n  label?: string;\n}}\n\n"
    );
    for h in 0..1 + rng.usize(..5) {
        text.push_str(&format!(
            "function use{name}{h}(id: string) {{\n  const [state, setState] = React.useState<string | null>(null);\n  React.useEffect(() => {{\n    fetch(`/api/{h}/${{id}}`).then((r) => r.text()).then(setState);\n  }}, [id]);\n  return state;\n}}\n\n"
        ));
    }
    text.push_str(&format!(
        "export function {name}({{ id, label }}: {name}Props) {{\n  const value = use{name}0(id);\n  return <div className=\"{name}\">{{label ?? value}}</div>;\n}}\n"
    ));
    text
}

fn component_test(name: &str) -> String {
    format!(
        "import {{ render }} from \"@testing-library/react\";\nimport {{ {name} }} from \"./{name}\";\n\ntest(\"{name} renders its label\", () => {{\n  const {{ getByText }} = render(<{name} id=\"1\" label=\"hello\" />);\n  expect(getByText(\"hello\")).toBeTruthy();\n}});\n"
    )
}

/// A large file: JSON fixtures (200-600 KB), a minified vendored bundle
/// (about 800 KB), a generated schema module (about 250 KB).
fn large_file(rng: &mut Rng, i: usize) -> (String, String) {
    match i % 3 {
        0 => {
            let rows: Vec<String> = (0..1500 + rng.usize(..3000))
                .map(|r| {
                    format!(
                        "  {{\"sku\": \"SKU-{r:06}\", \"name\": \"{}\", \"price\": {}.{:02}, \"stock\": {}}}",
                        words(rng, 3),
                        rng.u32(1..900),
                        rng.u32(0..100),
                        rng.u32(0..5000)
                    )
                })
                .collect();
            (
                format!("tests/fixtures/catalog_{i}.json"),
                format!("[\n{}\n]\n", rows.join(",\n")),
            )
        }
        1 => {
            let body: String = (0..9000)
                .map(|k| format!("function a{k}(b,c){{return b*{}+c}};", rng.u32(1..99)))
                .collect();
            (format!("web/vendor/charts_{i}.min.js"), body)
        }
        _ => {
            let body: String = (0..4000)
                .map(|k| format!("FIELD_{k} = _descriptor.FieldDescriptor(name=\"f{k}\", index={k}, number={})\n", rng.u32(1..9999)))
                .collect();
            (format!("src/shop/generated/schema_{i}_pb2.py"), body)
        }
    }
}

/// A deploy's kind of change: new values for one or two `limit = N`.
fn retune(file: &Path, rng: &mut Rng) -> Result<(), Error> {
    let text = std::fs::read_to_string(file)?;
    let mut seen = 0;
    let wanted = rng.usize(..3);
    let out: Vec<String> = text
        .split('\n')
        .map(|line| match line.strip_prefix("    limit = ") {
            Some(_) => {
                seen += 1;
                if seen == 1 || seen == wanted + 2 {
                    format!("    limit = {}", rng.u32(1..300))
                } else {
                    line.to_string()
                }
            }
            None => line.to_string(),
        })
        .collect();
    std::fs::write(file, out.join("\n"))?;
    Ok(())
}

/// A frame in the module's first function, on its `limit` line.
fn frame(root: &Path, path: &str) -> Result<StackFrame, Error> {
    let text = std::fs::read_to_string(root.join(path))?;
    let (index, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("def "))
        .ok_or("no function in the module")?;
    let function = line
        .trim_start_matches("def ")
        .split('(')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(StackFrame {
        path: path.to_string(),
        function,
        line: u32::try_from(index + 3)?,
    })
}

/// The first function's `def` line, docstring and `limit` line.
fn first_function(text: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("def "))?;
    Some(
        lines
            .get(start..start + 3)?
            .iter()
            .map(|l| l.to_string())
            .collect(),
    )
}

const WORDS: &[&str] = &[
    "apply",
    "the",
    "order",
    "limit",
    "to",
    "each",
    "line",
    "item",
    "before",
    "tax",
    "and",
    "round",
    "totals",
    "for",
    "customers",
    "with",
    "a",
    "coupon",
    "when",
    "stock",
    "is",
    "low",
    "per",
    "region",
    "currency",
    "rules",
    "from",
    "settings",
];

fn words(rng: &mut Rng, n: usize) -> String {
    let picked: Vec<&str> = (0..n).map(|_| WORDS[rng.usize(..WORDS.len())]).collect();
    let text = picked.join(" ");
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn prose(rng: &mut Rng, sentences: usize) -> String {
    let mut text = format!("# {}\n\n", words(rng, 4));
    for s in 0..sentences {
        let n = 8 + rng.usize(..12);
        text.push_str(&words(rng, n));
        text.push_str(if s % 5 == 4 { ".\n\n" } else { ". " });
    }
    text.push('\n');
    text
}

fn yaml(rng: &mut Rng) -> String {
    (0..10 + rng.usize(..30))
        .map(|k| format!("key_{k}: {}\n", rng.u32(0..10_000)))
        .collect()
}

fn verb(rng: &mut Rng) -> &'static str {
    const VERBS: &[&str] = &[
        "compute", "apply", "load", "check", "build", "merge", "split", "round", "price", "ship",
    ];
    VERBS[rng.usize(..VERBS.len())]
}

fn title(word: &str) -> String {
    word.split(' ')
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}
