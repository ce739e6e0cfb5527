//! The randomized convergence test (`system_tests::convergence`): four kiosk engines, two server
//! instances on one Postgres and a fault link per kiosk, under a seeded schedule of venue
//! operations and faults; then everything heals and the run checks that every change is on the
//! server once, every kiosk holds the server's view, and the conflicts are exactly those made.
//!
//! CI runs a fixed set of seeds. `CONVERGENCE_SEED=N` replays one seed; many seeds run by hand
//! with `cargo run -p system-tests --bin convergence -- --seeds N` (docs/testing.md).

use system_tests::convergence::{Config, run};

/// The seeds every run checks (a seed that once found a bug stays here as its regression case).
const SEEDS: [u64; 7] = [1, 2, 3, 13, 42, 73, 85];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiosks_and_servers_converge_under_faults() {
    let seeds: Vec<u64> = match std::env::var("CONVERGENCE_SEED") {
        Ok(seed) => vec![seed.parse().expect("CONVERGENCE_SEED is a number")],
        Err(_) => SEEDS.to_vec(),
    };
    for seed in seeds {
        let summary = run(seed, Config::default()).await;
        println!("seed {seed}: {summary:?}");
        assert!(
            summary.changes > 0,
            "seed {seed}: the schedule made no change at all"
        );
    }
}
