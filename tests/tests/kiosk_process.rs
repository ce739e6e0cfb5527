//! The `kiosk` binary as a gate runs it all day (`kiosk run --source DIR`), a real child process
//! against the real server: badges from the replay camera and from the wedge on standard input
//! get their verdicts as JSON lines, then the process is killed (SIGKILL) while it syncs. After
//! a one-shot `kiosk sync`, every verdict it printed is on the server exactly once.
//!
//! No timing is asserted: each wait has a generous deadline and fails only when it passes.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;
use system_tests::db::TestDb;
use system_tests::kiosk::enrolled_store;
use system_tests::seed;
use system_tests::server::{ServerProcess, workspace_binary};

const DEADLINE: Duration = Duration::from_secs(60);

/// The next line for which `ok` holds (every line read is kept in `seen`).
fn next_matching(
    lines: &mpsc::Receiver<Value>,
    seen: &mut Vec<Value>,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if ok(&line) {
                    return line;
                }
            }
            Err(_) => panic!("{what}: not seen; lines so far: {seen:#?}"),
        }
    }
}

fn kiosk(data: &Path) -> Command {
    let mut command = Command::new(workspace_binary("kiosk"));
    command
        .arg("--data")
        .arg(data)
        .env("KIOSK_PIN", "24682468")
        .env("RUST_LOG", "warn");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_process_killed_while_syncing_loses_and_doubles_nothing() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, 60).await;
    server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);
    let (store, dir, _) = enrolled_store(&server.base, &pool, event.event_id, "gate").await;
    let device = store.identity().unwrap().unwrap().device_id;
    drop(store);

    // The replay camera shows one badge.
    let replay = dir.join("replay");
    std::fs::create_dir_all(&replay).unwrap();
    let qr = qrcode::QrCode::new(codes[0].as_bytes()).unwrap();
    qr.render::<image::Luma<u8>>()
        .min_dimensions(300, 300)
        .build()
        .save(replay.join("badge.png"))
        .unwrap();

    let mut child = kiosk(&dir)
        .args(["run", "--gate", "main", "--fps", "10", "--source"])
        .arg(&replay)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if tx.send(value).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    next_matching(&lines, &mut seen, "ready", |l| l["event"] == "ready");
    let camera = next_matching(&lines, &mut seen, "the badge from the camera", |l| {
        l["event"] == "scan" && l["source"] == "camera"
    });
    assert_eq!(camera["verdict"]["code"], "admitted", "{camera}");
    next_matching(&lines, &mut seen, "the camera's check-in pushed", |l| {
        l["event"] == "sync" && l["online"] == true && l["pending"] == 0 && l["acknowledged"] == 1
    });

    // A wedge scanner types the other badges in a burst; the process is killed while the
    // background sync pushes them.
    let mut stdin = child.stdin.take().unwrap();
    let burst: String = codes[1..].iter().map(|c| format!("{c}\r\n")).collect();
    stdin.write_all(burst.as_bytes()).unwrap();
    stdin.flush().unwrap();
    next_matching(&lines, &mut seen, "a push under way", |l| {
        l["event"] == "progress" && l["phase"] == "pushing"
    });
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    while let Ok(line) = lines.try_recv() {
        seen.push(line);
    }

    // Every verdict printed was recorded before it was printed.
    let printed: Vec<u64> = seen
        .iter()
        .filter(|l| l["event"] == "scan")
        .filter_map(|l| l["seq"].as_u64())
        .collect();
    assert!(printed.len() > 1, "{seen:#?}");
    let synced = kiosk(&dir).arg("sync").output().unwrap();
    assert!(
        synced.status.success(),
        "{}",
        String::from_utf8_lossy(&synced.stderr)
    );
    let status = kiosk(&dir).arg("status").output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["outbox"]["pending"], 0, "{status}");
    let recorded = status["outbox"]["acknowledged"].as_u64().unwrap();
    assert!(recorded >= printed.len() as u64, "{status}");

    // The server holds each recorded change once, every printed one among them.
    let stored: Vec<i64> = sqlx::query_scalar(
        "select seq from changes where device_id = $1 and status = 'accepted' order by seq",
    )
    .bind(device.as_uuid())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        stored.len() as u64,
        recorded,
        "nothing lost, nothing doubled"
    );
    let expected: Vec<i64> = (1..=recorded as i64).collect();
    assert_eq!(stored, expected);
    for seq in &printed {
        assert!(
            stored.contains(&(*seq as i64)),
            "printed seq {seq} is on the server"
        );
    }
    system_tests::db::filer_settled(&pool).await;
    let check_ins: i64 = sqlx::query_scalar("select count(*) from check_ins where device_id = $1")
        .bind(device.as_uuid())
        .fetch_one(&pool)
        .await
        .unwrap();
    let admitted = seen
        .iter()
        .filter(|l| l["event"] == "scan" && l["verdict"]["code"] == "admitted")
        .count() as i64;
    assert!(
        check_ins >= admitted,
        "{check_ins} check-ins, {admitted} admissions printed"
    );

    let _ = std::fs::remove_dir_all(&dir);
    pool.close().await;
    drop(server);
    db.drop_db().await;
}
