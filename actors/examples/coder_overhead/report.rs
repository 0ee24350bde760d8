//! The figures: min / median / max per step and in total, and the medians
//! of every repository size side by side.

use std::time::Duration;

use crate::attempt::STEPS;

/// The times of one repository size: per step, then the totals.
pub struct Measured {
    files: usize,
    steps: Vec<Vec<Duration>>,
    totals: Vec<Duration>,
}

impl Measured {
    pub fn new(files: usize, runs: usize) -> Self {
        Self {
            files,
            steps: vec![Vec::with_capacity(runs); STEPS.len()],
            totals: Vec::with_capacity(runs),
        }
    }

    /// One attempt's step times, in [`STEPS`] order.
    pub fn add(&mut self, times: Vec<Duration>) {
        self.totals.push(times.iter().sum());
        for (step, time) in self.steps.iter_mut().zip(times) {
            step.push(time);
        }
    }

    pub fn print(&self) {
        println!(
            "{:<28} {:>9} {:>9} {:>9}",
            "step (ms)", "min", "median", "max"
        );
        for (name, times) in STEPS.iter().zip(&self.steps) {
            row(name, times);
        }
        row("total", &self.totals);
    }
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

fn median(times: &[Duration]) -> f64 {
    spread(times).1
}

/// The medians of every size side by side, and the growth of the total
/// from the first size to the last.
pub fn summary(all: &[Measured]) {
    print!("\n{:<28}", "median (ms)");
    for m in all {
        print!(" {:>12}", format!("{} files", m.files));
    }
    println!();
    for (i, name) in STEPS.iter().enumerate() {
        print!("{name:<28}");
        for m in all {
            print!(" {:>12.1}", median(&m.steps[i]));
        }
        println!();
    }
    print!("{:<28}", "total");
    for m in all {
        print!(" {:>12.1}", median(&m.totals));
    }
    println!();
    if let (Some(first), Some(last)) = (all.first(), all.last()) {
        println!(
            "total median, {} files against {} files: {:.2}x",
            last.files,
            first.files,
            median(&last.totals) / median(&first.totals)
        );
    }
}
