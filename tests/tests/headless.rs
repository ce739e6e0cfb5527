//! `kiosk run`'s engine (kiosk_core::headless) against the real sync-server on real Postgres:
//! codes typed by a keyboard-wedge scanner, one per line, get their verdicts as JSON lines; the
//! background sync pushes them on its own; check-ins made online are not flagged offline; the
//! run ends cleanly when the input closes, with nothing left to send.
//!
//! No timing is asserted: each wait has a generous deadline and fails only when it passes.

use std::sync::Arc;
use std::time::Duration;

use kiosk_core::app::Kiosk;
use kiosk_core::background::LoopConfig;
use kiosk_core::headless::{RunOptions, run};
use serde_json::Value;
use sqlx::PgPool;
use sync_protocol::crypto::KdfParams;
use system_tests::db::TestDb;
use system_tests::kiosk::enrolled_store;
use system_tests::seed;
use system_tests::server::ServerProcess;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

const DEADLINE: Duration = Duration::from_secs(60);

/// The next output line for which `ok` holds (earlier ones are kept in `seen`).
async fn next_matching(
    lines: &mut mpsc::UnboundedReceiver<Value>,
    seen: &mut Vec<Value>,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let found = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.recv().await {
            seen.push(line.clone());
            if ok(&line) {
                return Some(line);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        _ => panic!("{what}: not seen; lines so far: {seen:#?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_at_the_gate_through_standard_input() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, 3).await;
    server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);

    // A kiosk set up, enrolled and holding the package, as `kiosk init/enroll/fetch-package`.
    let (store, dir, _) = enrolled_store(&server.base, &pool, event.event_id, "headless").await;
    drop(store);
    let kiosk = Arc::new(Kiosk::open(&dir, KdfParams::FOR_TESTS).unwrap());
    kiosk.unlock("24682468").unwrap();

    let (mut scanner, input) = tokio::io::duplex(4096);
    let (out, mut lines) = mpsc::unbounded_channel();
    let options = RunOptions {
        gate: "main".into(),
        exit: false,
        source: None,
        fps: 5.0,
        sync: LoopConfig {
            backoff_start: Duration::from_millis(50),
            backoff_cap: Duration::from_millis(500),
            ..LoopConfig::default()
        },
    };
    let running = tokio::spawn(run(
        kiosk.clone(),
        options,
        tokio::io::BufReader::new(input),
        std::future::pending(),
        move |line| {
            let _ = out.send(line);
        },
    ));
    let mut seen = Vec::new();
    let ready = next_matching(&mut lines, &mut seen, "ready", |l| l["event"] == "ready").await;
    assert_eq!(ready["gate"]["name"], "Main", "{ready}");
    assert_eq!(ready["direction"], "entry");
    next_matching(&mut lines, &mut seen, "online", |l| {
        l["event"] == "sync" && l["online"] == true
    })
    .await;

    // A scanner types three codes, each ended by Enter (CR LF here).
    let typed = format!("{}\r\n{}\r\nNOT-A-TICKET\r\n\r\n", codes[0], codes[0]);
    scanner.write_all(typed.as_bytes()).await.unwrap();
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        let scan = next_matching(&mut lines, &mut seen, "a scan", |l| l["event"] == "scan").await;
        assert_eq!(scan["source"], "wedge");
        verdicts.push(scan["verdict"]["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(verdicts, ["admitted", "already_used", "unknown"]);

    // The background sync pushes them by itself.
    next_matching(&mut lines, &mut seen, "all pushed", |l| {
        l["event"] == "sync" && l["online"] == true && l["pending"] == 0 && l["acknowledged"] == 3
    })
    .await;
    let offline: Vec<Option<bool>> = sqlx::query_scalar(
        "select (payload->>'offline')::boolean from changes
         where kind in ('check_in', 'failed_scan') order by seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        offline,
        [Some(false), Some(false), Some(false)],
        "scans made online are not offline (one check-in, two failed scans)"
    );

    // A bad gate name is a clear error, before anything runs.
    let other = Arc::new(Kiosk::open(&dir.join("elsewhere"), KdfParams::FOR_TESTS).unwrap());
    let (_keep, empty) = tokio::io::duplex(16);
    let refused = run(
        other,
        RunOptions {
            gate: "Nowhere".into(),
            ..RunOptions {
                gate: String::new(),
                exit: false,
                source: None,
                fps: 5.0,
                sync: LoopConfig::default(),
            }
        },
        tokio::io::BufReader::new(empty),
        std::future::pending(),
        |_| {},
    )
    .await;
    assert!(refused.is_err());

    // The scanner is unplugged (input closed): the run ends, nothing waiting.
    drop(scanner);
    let stopped = next_matching(&mut lines, &mut seen, "stopped", |l| {
        l["event"] == "stopped"
    })
    .await;
    assert_eq!(stopped["pending"], 0, "{stopped}");
    tokio::time::timeout(DEADLINE, running)
        .await
        .expect("the run ends")
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    drop(server);
    db.drop_db().await;
}
