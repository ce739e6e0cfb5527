//! Runs the randomized convergence test (`system_tests::convergence`) for many seeds, by hand:
//!
//! ```sh
//! cargo build -p sync-server -p kiosk-core --bins
//! cargo run -p system-tests --bin convergence -- --seeds 200 [--from 1] [--steps 60]
//! ```
//!
//! Needs PostgreSQL as the system tests do (DATABASE_URL or 127.0.0.1:5432). Stops at the first
//! failing seed, after printing it and its schedule; prints a line per seed that passed.

use std::time::Instant;

use system_tests::convergence::{Config, run};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, not {v}"))
        })
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds = arg(&args, "--seeds", 20);
    let from = arg(&args, "--from", 1);
    let config = Config {
        steps: arg(&args, "--steps", Config::default().steps as u64) as usize,
        ..Config::default()
    };
    let start = Instant::now();
    for seed in from..from + seeds {
        let began = Instant::now();
        let summary = run(seed, config).await;
        println!(
            "seed {seed}: ok in {:.1} s ({} changes, {} check-ins, {} walk-ins, {} edits, {} conflicts, {} faults)",
            began.elapsed().as_secs_f64(),
            summary.changes,
            summary.check_ins,
            summary.walk_ins,
            summary.edits,
            summary.conflicts,
            summary.faults
        );
    }
    println!(
        "{seeds} seeds passed ({from}..{}) in {:.0} s",
        from + seeds - 1,
        start.elapsed().as_secs_f64()
    );
}
