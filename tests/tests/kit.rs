//! A venue with no network at all: the admin makes a kiosk kit on the server
//! (`sync-server admin enrol kit`), the kiosk sets itself up from the file and its code, scans
//! offline at once, and syncs as any enrolled kiosk once a network appears.

use kiosk_core::app::{AppError, Kiosk, Phase, ScanSource};
use sqlx::PgPool;
use sync_protocol::crypto::KdfParams;
use sync_protocol::verdict::VerdictCode;
use system_tests::db::TestDb;
use system_tests::seed;
use system_tests::server::ServerProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_set_up_from_a_kit_scans_offline_and_syncs_later() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    let event = seed::event(&pool).await;
    let codes = seed::tickets(&pool, event.event_id, 3).await;
    server.admin(&["package", "publish", "--event", &event.event_id.to_string()]);

    let dir = std::env::temp_dir().join(format!("gp-sys-kit-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let kit_path = dir.join("far-gate.gatepass-kit");
    let made = server.admin(&[
        "enrol",
        "kit",
        "--event",
        &event.event_id.to_string(),
        "--label",
        "Far gate",
        "--server-url",
        &server.base,
        "--out",
        kit_path.to_str().unwrap(),
    ]);
    let code = made["kit_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 23, "{made}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kit_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the admin reads the kit");
    }
    let kit = std::fs::read(&kit_path).unwrap();

    let kiosk = Kiosk::open(&dir.join("kiosk"), KdfParams::FOR_TESTS).unwrap();
    kiosk.set_up("24682468", "1357").unwrap();
    // A wrong code is said at its field and changes nothing.
    match kiosk.enrol_from_kit(&kit, "WRONG-CODE") {
        Err(AppError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("kit_code")),
        other => panic!("{other:?}"),
    }
    assert_eq!(kiosk.state().unwrap().phase, Phase::Enrol);
    let damaged = &kit[..kit.len() - 10];
    assert!(kiosk.enrol_from_kit(damaged, &code).is_err());
    assert_eq!(kiosk.state().unwrap().phase, Phase::Enrol);

    // With the code as printed, the kiosk is ready at once.
    let state = kiosk.enrol_from_kit(&kit, &code).unwrap();
    assert_eq!(
        state.phase,
        Phase::Ready,
        "enrolled and holding the package at once"
    );
    assert_eq!(state.package_version, Some(1));
    assert_eq!(
        state.device.as_ref().map(|d| d.device_id.to_string()),
        made["device_id"].as_str().map(str::to_owned)
    );
    assert!(
        kiosk.enrol_from_kit(&kit, &code).is_err(),
        "a kiosk enrols once"
    );

    kiosk.select_gate(event.gate_id).unwrap();
    let outcome = kiosk.scan(codes[0].as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(outcome.verdict.code, VerdictCode::Admitted);

    // A network at last: the kit's device token works as any enrolled kiosk's.
    let report = kiosk.sync_now(|_| {}).await.unwrap();
    assert_eq!((report.pushed, report.pending_after), (1, 0));
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from changes c join devices d on d.id = c.device_id
         where d.label = 'Far gate' and c.status = 'accepted'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 1);

    let _ = std::fs::remove_dir_all(&dir);
    pool.close().await;
    drop(server);
    db.drop_db().await;
}
