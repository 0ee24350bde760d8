//! What the coding agent itself costs per attempt, model and tests left
//! out: the base revision, the worktree, the context (outlines, the file
//! list and related tests, recent commits, the deploy's diff, the
//! rendering), the edit, the diff and the guardrails, the listings around
//! each test run, the tests-only worktree of a regression test, the commit
//! and the worktree's removal. On generated service repositories (2,000
//! and 20,000 files by default, see `generate.rs`), with real git.
//!
//! `cargo run --release -p suture-actors --example coder_overhead [--runs N] [files...]`
//!
//! Prints min / median / max per step and in total for each size, then
//! the medians side by side and the ratio of the largest size's total to
//! the smallest's. The target: under 2 s on 20,000 files.

mod attempt;
mod generate;
mod scene;

use std::time::{Duration, Instant};

use attempt::{Facts, STEPS};
use generate::Error;

const DEFAULT_RUNS: usize = 7;
const DEFAULT_SIZES: &[usize] = &[2_000, 20_000];

/// The times of one repository size: per step, then the totals.
struct Measured {
    files: usize,
    steps: Vec<Vec<Duration>>,
    totals: Vec<Duration>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (runs, sizes) = match arguments() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}\nusage: coder_overhead [--runs N] [files...]");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(runs, &sizes).await {
        eprintln!("coder_overhead: {e}");
        std::process::exit(1);
    }
}

fn arguments() -> Result<(usize, Vec<usize>), Error> {
    let mut runs = DEFAULT_RUNS;
    let mut sizes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--runs" {
            runs = args.next().ok_or("--runs needs a number")?.parse()?;
        } else {
            sizes.push(
                arg.parse()
                    .map_err(|_| format!("not a file count: {arg}"))?,
            );
        }
    }
    if runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if sizes.is_empty() {
        sizes = DEFAULT_SIZES.to_vec();
    }
    if let Some(small) = sizes.iter().find(|&&s| s < 200) {
        return Err(
            format!("{small} files is too few for a service repository (200 at least)").into(),
        );
    }
    Ok((runs, sizes))
}

async fn run(runs: usize, sizes: &[usize]) -> Result<(), Error> {
    let git = std::process::Command::new("git")
        .arg("--version")
        .output()?;
    println!(
        "coder_overhead: {runs} attempts per repository; {}",
        String::from_utf8_lossy(&git.stdout).trim()
    );
    let mut all = Vec::new();
    for &files in sizes {
        all.push(measure(files, runs).await?);
    }
    if all.len() > 1 {
        summary(&all);
    }
    Ok(())
}

/// Generates the repository of `files` files and runs `runs` attempts in it.
async fn measure(files: usize, runs: usize) -> Result<Measured, Error> {
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
    let mut steps = vec![Vec::with_capacity(runs); STEPS.len()];
    let mut totals = Vec::with_capacity(runs);
    let mut facts: Option<Facts> = None;
    for number in 1..=runs {
        let (times, seen) = attempt::attempt(&scene, u32::try_from(number)?).await?;
        totals.push(times.iter().sum());
        for (step, time) in steps.iter_mut().zip(times) {
            step.push(time);
        }
        facts.get_or_insert(seen);
    }
    if let Some(f) = facts {
        println!(
            "context: {} stack files outlined, {} related tests, {} recent commits, the deploy's diff ({} bytes); about {} tokens, {} sections cut; {}",
            f.outlines, f.related, f.commits, f.deploy_diff_bytes, f.tokens, f.cuts, f.verdict
        );
    }
    println!(
        "{:<28} {:>9} {:>9} {:>9}",
        "step (ms)", "min", "median", "max"
    );
    for (name, times) in STEPS.iter().zip(&steps) {
        row(name, times);
    }
    row("total", &totals);
    Ok(Measured {
        files: generated.files,
        steps,
        totals,
    })
}

fn row(name: &str, times: &[Duration]) {
    let (min, median, max) = spread(times);
    println!("{name:<28} {min:>9.1} {median:>9.1} {max:>9.1}");
}

/// Min, median and max in milliseconds.
fn spread(times: &[Duration]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let at = |i: usize| ms.get(i).copied().unwrap_or(f64::NAN);
    (at(0), at(ms.len() / 2), at(ms.len().saturating_sub(1)))
}

/// The medians of every size side by side, and the growth of the total.
fn summary(all: &[Measured]) {
    print!("\n{:<28}", "median (ms)");
    for m in all {
        print!(" {:>12}", format!("{} files", m.files));
    }
    println!();
    for (i, name) in STEPS.iter().enumerate() {
        print!("{name:<28}");
        for m in all {
            print!(" {:>12.1}", spread(&m.steps[i]).1);
        }
        println!();
    }
    print!("{:<28}", "total");
    for m in all {
        print!(" {:>12.1}", spread(&m.totals).1);
    }
    println!();
    if let (Some(first), Some(last)) = (all.first(), all.last()) {
        println!(
            "total median, {} files against {} files: {:.2}x",
            last.files,
            first.files,
            spread(&last.totals).1 / spread(&first.totals).1
        );
    }
}
