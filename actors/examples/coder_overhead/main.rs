//! What the coding agent itself costs per attempt, model and tests left
//! out: the base revision, the worktree, the context (outlines, the file
//! list and related tests, recent commits, the deploy's diff, the
//! rendering), the edit, the diff and the guardrails, the listings around
//! each test run, the tests-only worktree of a regression test, the commit
//! and the worktree's removal. On generated service repositories (2,000
//! and 20,000 files by default, see `generate.rs`), with real git.
//!
//! `cargo run --release -p suture-actors --example coder_overhead [--runs N] [--settle S] [files...]`
//!
//! Prints min / median / max per step and in total for each size, then
//! the medians side by side and the ratio of the largest size's total to
//! the smallest's. The target: under 2 s on 20,000 files.
//!
//! Attempts run back to back, as a queue of tickets runs them; `--settle S`
//! syncs and waits S seconds between them instead (untimed), for
//! filesystems where a big deletion slows the next creations down (ext4
//! without a journal will not reuse an inode freed in the last minutes).
//! The repositories go in the temporary folder (`TMPDIR`).

mod attempt;
mod generate;
mod report;
mod scene;

use std::time::{Duration, Instant};

use attempt::Facts;
use generate::Error;
use report::Measured;

const DEFAULT_RUNS: usize = 7;
const DEFAULT_SIZES: &[usize] = &[2_000, 20_000];
const USAGE: &str = "usage: coder_overhead [--runs N] [--settle SECONDS] [files...]";

/// What the command line asks for.
struct Options {
    runs: usize,
    settle: Duration,
    sizes: Vec<usize>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = match arguments(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&options).await {
        eprintln!("coder_overhead: {e}");
        std::process::exit(1);
    }
}

fn arguments(mut args: impl Iterator<Item = String>) -> Result<Options, Error> {
    let mut options = Options {
        runs: DEFAULT_RUNS,
        settle: Duration::ZERO,
        sizes: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => options.runs = number(args.next(), "--runs needs a number")?,
            "--settle" => {
                let seconds = number(args.next(), "--settle needs a number of seconds")?;
                options.settle = Duration::from_secs(seconds);
            }
            _ => options.sizes.push(
                arg.parse()
                    .map_err(|_| format!("not a file count: {arg}"))?,
            ),
        }
    }
    if options.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if options.sizes.is_empty() {
        options.sizes = DEFAULT_SIZES.to_vec();
    }
    if let Some(small) = options.sizes.iter().find(|&&s| s < 200) {
        return Err(
            format!("{small} files is too few for a service repository (200 at least)").into(),
        );
    }
    Ok(options)
}

fn number<T: std::str::FromStr>(arg: Option<String>, problem: &str) -> Result<T, Error> {
    arg.and_then(|a| a.parse().ok())
        .ok_or_else(|| problem.into())
}

async fn run(options: &Options) -> Result<(), Error> {
    let git = std::process::Command::new("git")
        .arg("--version")
        .output()?;
    let spacing = if options.settle.is_zero() {
        "back to back".to_string()
    } else {
        format!("{} s apart", options.settle.as_secs())
    };
    println!(
        "coder_overhead: {} attempts per repository, {spacing}; {}; in {}",
        options.runs,
        String::from_utf8_lossy(&git.stdout).trim(),
        std::env::temp_dir().display()
    );
    let mut all = Vec::new();
    for &files in &options.sizes {
        all.push(measure(files, options).await?);
    }
    if all.len() > 1 {
        report::summary(&all);
    }
    Ok(())
}

/// Generates the repository of `files` files and runs the attempts in it.
async fn measure(files: usize, options: &Options) -> Result<Measured, Error> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("shop");
    std::fs::create_dir_all(&root)?;
    let started = Instant::now();
    let generated = generate::repository(&root, files)?;
    println!(
        "\nrepository: {} files, {:.1} MB, {} commits (generated in {:.1} s)",
        generated.files,
        generated.bytes as f64 / 1e6,
        generated.commits,
        started.elapsed().as_secs_f64()
    );
    let scene = scene::Scene::new(&generated, &dir.path().join("worktrees")).await?;
    let mut measured = Measured::new(generated.files, options.runs);
    let mut facts: Option<Facts> = None;
    for number in 1..=options.runs {
        if number > 1 && !options.settle.is_zero() {
            std::process::Command::new("sync").status()?;
            tokio::time::sleep(options.settle).await;
        }
        let (times, seen) = attempt::attempt(&scene, u32::try_from(number)?).await?;
        measured.add(times);
        facts.get_or_insert(seen);
    }
    if let Some(f) = facts {
        println!(
            "context: {} stack files outlined, {} related tests, {} recent commits, the deploy's diff ({} bytes); about {} tokens, {} sections cut; {}",
            f.outlines, f.related, f.commits, f.deploy_diff_bytes, f.tokens, f.cuts, f.verdict
        );
    }
    measured.print();
    Ok(measured)
}
