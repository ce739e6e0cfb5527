//! The sync API against a real server on a fresh Postgres database per test.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::json;
use support::{Kiosk, TestApp, TestDb};
use sync_protocol::changes::Change;
use sync_protocol::crypto::SecretKey;
use sync_protocol::wire::{
    ChangeStatus, Cursor, EnrolmentRequest, EnrolmentResponse, ErrorBody, ErrorCode, PullItem,
    PullPage, PushResponse, RejectCode,
};
use sync_server::api::HttpLimits;
use sync_server::store::SyncStore;

fn key() -> SecretKey {
    SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(42))
}

async fn app() -> (TestDb, TestApp) {
    let db = TestDb::new().await;
    let app = TestApp::start(&db, key(), HttpLimits::default()).await;
    (db, app)
}

async fn push(app: &TestApp, kiosk: &Kiosk, changes: &[Change]) -> PushResponse {
    let response = app
        .http
        .post(app.url("/api/v1/push"))
        .bearer_auth(&kiosk.token)
        .json(&json!({ "changes": changes }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// Pulls one page as a kiosk does: while rows are still committing (`pending`: the page stops
/// before a transaction in progress, possibly another test's on the same Postgres, since the
/// snapshot horizon is the cluster's), ask again shortly from the same cursor.
async fn pull(app: &TestApp, kiosk: &Kiosk, after: Cursor, limit: u32) -> PullPage {
    for _ in 0..1200 {
        let page = pull_once(app, kiosk, after, limit).await;
        if !page.pending {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the feed stayed pending for 60 s (a long transaction elsewhere on this Postgres?)");
}

async fn pull_once(app: &TestApp, kiosk: &Kiosk, after: Cursor, limit: u32) -> PullPage {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/pull?after={after}&limit={limit}")))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn error_of(response: reqwest::Response) -> (u16, ErrorBody) {
    let status = response.status().as_u16();
    let body: ErrorBody = response
        .json()
        .await
        .expect("error body is {code, message}");
    (status, body)
}

fn statuses(response: &PushResponse) -> Vec<&ChangeStatus> {
    response.results.iter().map(|r| &r.status).collect()
}

fn seqs_of(page: &PullPage) -> Vec<u64> {
    page.items
        .iter()
        .map(|item| match item {
            PullItem::DeviceChange { change, .. } => change.seq,
            other => panic!("unexpected item {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn health_and_readiness() {
    let (db, app) = app().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(ready.headers().contains_key("x-request-id"));
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn enrolment_gives_a_certified_identity_once() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let token = app.enrolment_token(event).await;
    let device_key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(1));
    let request = EnrolmentRequest {
        token: token.clone(),
        device_public_key: device_key.public_key(),
        label: "South gate".into(),
        app_version: "1.0".into(),
    };
    let response = app
        .http
        .post(app.url("/api/v1/enrol"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let enrolled: EnrolmentResponse = response.json().await.unwrap();
    assert_eq!(enrolled.event_id, event);
    assert_eq!(enrolled.server_public_key, app.key.public_key());
    let certificate = enrolled
        .certificate
        .open(&enrolled.server_public_key)
        .unwrap();
    assert_eq!(certificate.device_id, enrolled.device_id);
    assert_eq!(certificate.public_key, device_key.public_key());
    assert_eq!(certificate.label, "South gate");

    // The token is one-time.
    let again = app
        .http
        .post(app.url("/api/v1/enrol"))
        .json(&request)
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(again).await;
    assert_eq!((status, body.code), (401, ErrorCode::EnrolmentTokenInvalid));

    // An unknown token, a blank label, a malformed body: clear errors.
    let unknown = EnrolmentRequest {
        token: "nope".into(),
        ..request.clone()
    };
    let (status, body) = error_of(
        app.http
            .post(app.url("/api/v1/enrol"))
            .json(&unknown)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body.code), (401, ErrorCode::EnrolmentTokenInvalid));
    let fresh = app.enrolment_token(event).await;
    let blank = EnrolmentRequest {
        token: fresh.clone(),
        label: "  ".into(),
        ..request.clone()
    };
    let (status, body) = error_of(
        app.http
            .post(app.url("/api/v1/enrol"))
            .json(&blank)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body.code), (422, ErrorCode::ValidationFailed));
    let (status, body) = error_of(
        app.http
            .post(app.url("/api/v1/enrol"))
            .header("content-type", "application/json")
            .body("{\"token\": 5")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body.code), (400, ErrorCode::InvalidJson));
    // The refused attempts did not use up the fresh token.
    let ok = EnrolmentRequest {
        token: fresh,
        ..request
    };
    let response = app
        .http
        .post(app.url("/api/v1/enrol"))
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn sync_needs_a_valid_unrevoked_device_token() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let kiosk = app.enrol(event).await;

    let none = app
        .http
        .post(app.url("/api/v1/push"))
        .json(&json!({"changes": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(none).await,
        (
            401,
            ErrorBody {
                code: ErrorCode::Unauthorized,
                message: "missing or unknown credentials".into()
            }
        )
    );
    let wrong = app
        .http
        .get(app.url("/api/v1/pull"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(wrong).await.1.code, ErrorCode::Unauthorized);

    assert!(pull(&app, &kiosk, Cursor::START, 10).await.items.is_empty());
    app.store
        .revoke_device(kiosk.device_id, &support::test_audit("device.revoke"))
        .await
        .unwrap();
    let revoked = app
        .http
        .get(app.url("/api/v1/pull"))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(revoked).await.1.code, ErrorCode::DeviceRevoked);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn push_is_idempotent_per_device_and_seq() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let batch = kiosk.check_ins(5);

    let first = push(&app, &kiosk, &batch).await;
    assert!(
        statuses(&first)
            .iter()
            .all(|s| **s == ChangeStatus::Accepted)
    );
    assert_eq!(first.acknowledged_seq, 5);

    // The same batch again (the acknowledgement was lost): all duplicates, nothing doubled.
    let replay = push(&app, &kiosk, &batch).await;
    assert!(
        statuses(&replay)
            .iter()
            .all(|s| **s == ChangeStatus::Duplicate)
    );
    assert_eq!(replay.acknowledged_seq, 5);

    // An overlapping batch: the old part is duplicate, the new part accepted.
    let mut overlap = batch[3..].to_vec();
    overlap.extend(kiosk.check_ins(2));
    let response = push(&app, &kiosk, &overlap).await;
    assert_eq!(
        statuses(&response),
        vec![
            &ChangeStatus::Duplicate,
            &ChangeStatus::Duplicate,
            &ChangeStatus::Accepted,
            &ChangeStatus::Accepted
        ]
    );
    assert_eq!(response.acknowledged_seq, 7);

    // The same seq with another payload is refused loudly and the stored one stays.
    let mut forged = batch[0].clone();
    forged.payload["direction"] = json!("exit");
    let response = push(&app, &kiosk, &[forged]).await;
    assert!(matches!(
        statuses(&response)[0],
        ChangeStatus::Rejected {
            code: RejectCode::SeqReused,
            ..
        }
    ));
    let page = pull(&app, &kiosk, Cursor::START, 100).await;
    assert_eq!(seqs_of(&page), (1..=7).collect::<Vec<_>>());
    let PullItem::DeviceChange { change, .. } = &page.items[0] else {
        unreachable!()
    };
    assert_eq!(change, &batch[0]);
    assert_eq!(page.write_checkpoint, 7);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_change_that_can_never_be_accepted_is_parked_and_blocks_nothing() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let mut batch = kiosk.check_ins(3);
    batch[0].kind = "teleport".into();
    batch[1].schema_version = 99;
    let response = push(&app, &kiosk, &batch).await;
    assert!(matches!(
        statuses(&response)[0],
        ChangeStatus::Rejected {
            code: RejectCode::UnknownKind,
            ..
        }
    ));
    assert!(matches!(
        statuses(&response)[1],
        ChangeStatus::Rejected {
            code: RejectCode::UnsupportedSchema,
            ..
        }
    ));
    assert_eq!(statuses(&response)[2], &ChangeStatus::Accepted);
    assert_eq!(
        response.acknowledged_seq, 3,
        "parked changes are acknowledged"
    );

    // A replay of a parked change says again why it was parked.
    let replay = push(&app, &kiosk, &batch[..1]).await;
    assert!(matches!(
        statuses(&replay)[0],
        ChangeStatus::Rejected {
            code: RejectCode::UnknownKind,
            ..
        }
    ));

    // Only the accepted change reaches the feed.
    assert_eq!(
        seqs_of(&pull(&app, &kiosk, Cursor::START, 10).await),
        vec![3]
    );
    app.stop().await;
    db.drop_db().await;
}

/// A change an older server parked (it did not know the kind yet) is accepted when the kiosk's
/// coordinator retries it against a server that knows it, and only then reaches the feed.
#[tokio::test]
async fn a_parked_change_retried_after_an_upgrade_is_accepted_once() {
    use sha2::Digest;
    use sync_server::store::{DeviceAuth, PreparedChange, Stored};
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let batch = kiosk.check_ins(2);
    let device = DeviceAuth {
        device_id: kiosk.device_id,
        event_id: kiosk.event_id,
        revoked: false,
    };
    let parked_before = PreparedChange {
        change: batch[0].clone(),
        digest: sha2::Sha256::digest(serde_json::to_vec(&batch[0]).unwrap()).into(),
        rejection: Some((RejectCode::UnknownKind, "an older server".into())),
        body: None,
        clock_ahead_ms: None,
    };
    let outcome = app.store.push(device, &[parked_before]).await.unwrap();
    assert_eq!(outcome.stored, vec![Stored::New]);
    assert_eq!(pull(&app, &kiosk, Cursor::START, 10).await.items.len(), 0);

    // The retry: this server knows the kind, so the same change is accepted now.
    let retry = push(&app, &kiosk, &batch).await;
    assert_eq!(
        statuses(&retry),
        vec![&ChangeStatus::Accepted, &ChangeStatus::Accepted]
    );
    // Once accepted, a replay is a plain duplicate.
    let again = push(&app, &kiosk, &batch[..1]).await;
    assert_eq!(statuses(&again), vec![&ChangeStatus::Duplicate]);
    assert_eq!(
        seqs_of(&pull(&app, &kiosk, Cursor::START, 10).await),
        vec![1, 2]
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_nul_in_a_pushed_change_is_stored_and_never_wedges_the_push() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let mut batch = kiosk.check_ins(2);
    // What an older kiosk sent for a camera frame holding a NUL byte.
    batch[0] = Change {
        kind: "failed_scan".into(),
        payload: serde_json::json!({
            "id": batch[0].entity_id,
            "gate_id": batch[0].payload["gate_id"],
            "direction": "entry",
            "ticket_id": null,
            "verdict": "unknown",
            "scanned_text": "AB\u{0}CD",
            "offline": true,
            "scanned_at": 1,
        }),
        ..batch[0].clone()
    };
    assert!(batch[0].body().is_ok(), "{:?}", batch[0].body());
    let response = push(&app, &kiosk, &batch).await;
    assert_eq!(
        statuses(&response),
        vec![&ChangeStatus::Accepted, &ChangeStatus::Accepted]
    );
    assert_eq!(response.acknowledged_seq, 2);
    // A replay (a lost acknowledgement) matches the stored change: a duplicate, not a conflict.
    let replay = push(&app, &kiosk, &batch).await;
    assert_eq!(
        statuses(&replay),
        vec![&ChangeStatus::Duplicate, &ChangeStatus::Duplicate]
    );
    let page = pull(&app, &kiosk, Cursor::START, 10).await;
    assert_eq!(seqs_of(&page), vec![1, 2]);
    let text = serde_json::to_string(&page).unwrap();
    assert!(text.contains("AB\u{FFFD}CD"), "{text}");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn acknowledgement_stops_at_a_gap() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let batch = kiosk.check_ins(4);
    let response = push(&app, &kiosk, &[batch[0].clone(), batch[2].clone()]).await;
    assert_eq!(response.acknowledged_seq, 1);
    let response = push(&app, &kiosk, &[batch[1].clone(), batch[3].clone()]).await;
    assert_eq!(response.acknowledged_seq, 4);

    // A batch above everything stored but not next to it (5 and 6 are still on the kiosk)...
    let more = kiosk.check_ins(4);
    let response = push(&app, &kiosk, &more[2..]).await;
    assert!(
        statuses(&response)
            .iter()
            .all(|s| **s == ChangeStatus::Accepted)
    );
    assert_eq!(response.acknowledged_seq, 4, "5 and 6 are missing");
    // ...then the missing ones close the gap, and the next batch goes on from the top.
    let response = push(&app, &kiosk, &more[..2]).await;
    assert_eq!(response.acknowledged_seq, 8);
    let next = kiosk.check_ins(1);
    let response = push(&app, &kiosk, &next).await;
    assert_eq!(response.acknowledged_seq, 9);
    app.stop().await;
    db.drop_db().await;
}

/// The highest seq a push may carry (2^63-1) is stored like any other: above a gap, so not
/// acknowledged, and a duplicate when sent again (found by scripts/api-fuzz: it overflowed).
#[tokio::test]
async fn the_highest_seq_is_stored_and_replayed_like_any_other() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let mut last = kiosk.check_ins(2);
    for change in &mut last {
        change.seq += i64::MAX as u64 - 2;
    }
    let response = push(&app, &kiosk, &last).await;
    assert_eq!(
        statuses(&response),
        vec![&ChangeStatus::Accepted, &ChangeStatus::Accepted]
    );
    assert_eq!(response.acknowledged_seq, 0, "1 to 2^63-3 are missing");
    let response = push(&app, &kiosk, &last).await;
    assert_eq!(
        statuses(&response),
        vec![&ChangeStatus::Duplicate, &ChangeStatus::Duplicate]
    );
    app.stop().await;
    db.drop_db().await;
}

/// Two sync loops of one kiosk (a restart while a push was in flight) push the same and the
/// next batch at once: each seq is stored and fed once, every push is answered, and the
/// acknowledgement reaches the last seq.
#[tokio::test]
async fn pushes_of_one_device_at_once_store_each_change_once() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let reader = app.enrol(event).await;
    let first = kiosk.check_ins(5);
    let second = kiosk.check_ins(5);
    let pushes = (0..8).map(|i| {
        let batch = if i % 2 == 0 { &first } else { &second };
        push(&app, &kiosk, batch)
    });
    let responses = futures_util::future::join_all(pushes).await;
    for seq in 1..=10u64 {
        let accepted = responses
            .iter()
            .flat_map(|r| &r.results)
            .filter(|r| r.seq == seq && r.status == ChangeStatus::Accepted)
            .count();
        assert_eq!(accepted, 1, "seq {seq} accepted once");
    }
    assert!(
        responses
            .iter()
            .flat_map(|r| &r.results)
            .all(|r| matches!(r.status, ChangeStatus::Accepted | ChangeStatus::Duplicate))
    );
    assert_eq!(responses.iter().map(|r| r.acknowledged_seq).max(), Some(10));
    assert_eq!(push(&app, &kiosk, &first).await.acknowledged_seq, 10);
    let page = pull(&app, &reader, Cursor::START, 100).await;
    let mut fed = seqs_of(&page);
    fed.sort();
    assert_eq!(fed, (1..=10).collect::<Vec<_>>(), "each change fed once");
    app.stop().await;
    db.drop_db().await;
}

/// Paging table in the style of atuin: each case pushes `stored` changes and pages through
/// them with `limit`, checking exactly the missing records move and nothing more.
#[tokio::test]
async fn pull_paging_table() {
    let (db, app) = app().await;
    let cases: &[(&str, usize, u32)] = &[
        ("empty", 0, 5),
        ("partial page", 3, 5),
        ("exact page", 5, 5),
        ("page + 1", 6, 5),
        ("several pages", 23, 5),
    ];
    for (name, stored, limit) in cases {
        let event = app.create_event().await;
        let mut kiosk = app.enrol(event).await;
        let reader = app.enrol(event).await;
        if *stored > 0 {
            let batch = kiosk.check_ins(*stored);
            push(&app, &kiosk, &batch).await;
        }
        let mut cursor = Cursor::START;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = pull(&app, &reader, cursor, *limit).await;
            pages += 1;
            assert!(page.items.len() <= *limit as usize, "{name}");
            seen.extend(seqs_of(&page));
            if page.items.is_empty() {
                assert_eq!(
                    page.next_cursor, cursor,
                    "{name}: an empty page keeps the cursor"
                );
            }
            cursor = page.next_cursor;
            if !page.has_more && !page.pending {
                break;
            }
        }
        assert_eq!(seen, (1..=*stored as u64).collect::<Vec<_>>(), "{name}");
        let expected_pages = (*stored).div_ceil(*limit as usize).max(1);
        assert!(
            pages == expected_pages || pages == expected_pages + 1,
            "{name}: {pages} pages"
        );
        // Nothing more after the end.
        assert!(
            pull(&app, &reader, cursor, *limit).await.items.is_empty(),
            "{name}"
        );
    }

    // Resume mid-way: a new page from a stored cursor continues exactly where it stopped.
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let batch = kiosk.check_ins(12);
    push(&app, &kiosk, &batch).await;
    let first = pull(&app, &kiosk, Cursor::START, 5).await;
    assert_eq!(seqs_of(&first), vec![1, 2, 3, 4, 5]);
    assert!(first.has_more);
    assert_eq!(
        first.write_checkpoint, 5,
        "only what the pages reached is reflected"
    );
    let resumed = pull(&app, &kiosk, first.next_cursor, 5).await;
    assert_eq!(seqs_of(&resumed), vec![6, 7, 8, 9, 10]);
    let rest = pull(&app, &kiosk, resumed.next_cursor, 5).await;
    assert_eq!(seqs_of(&rest), vec![11, 12]);
    assert!(!rest.has_more);
    assert_eq!(rest.write_checkpoint, 12);
    app.stop().await;
    db.drop_db().await;
}

/// A transaction that started writing first but commits last must not be skipped by a cursor
/// handed out in the meantime.
#[tokio::test]
async fn a_late_commit_is_never_skipped() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut writer = app.enrol(event).await;
    let reader = app.enrol(event).await;
    let pool = support::raw_pool(&db).await;

    // A slow transaction takes its transaction id and writes a feed row, but does not commit.
    // A raw pool of the test, not the server's.
    #[allow(clippy::disallowed_methods)]
    let mut slow = pool.begin().await.unwrap();
    sqlx::query("insert into feed (event_id, item) values ($1, $2)")
        .bind(event.as_uuid())
        .bind(
            serde_json::to_value(PullItem::DeviceRevoked {
                position: Cursor::START,
                device_id: reader.device_id,
            })
            .unwrap(),
        )
        .execute(&mut *slow)
        .await
        .unwrap();

    // A later push commits first.
    let batch = writer.check_ins(1);
    push(&app, &writer, &batch).await;
    let page = pull_once(&app, &reader, Cursor::START, 10).await;
    assert!(
        page.items.is_empty(),
        "rows behind a running transaction are held back: {page:?}"
    );
    assert!(page.pending, "the kiosk is told to ask again soon");

    slow.commit().await.unwrap();
    let page = pull(&app, &reader, Cursor::START, 10).await;
    assert_eq!(page.items.len(), 2);
    assert!(
        matches!(page.items[0], PullItem::DeviceRevoked { .. }),
        "the earlier transaction comes first"
    );
    assert!(matches!(page.items[1], PullItem::DeviceChange { .. }));
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_feed_runs_in_transaction_order_not_in_the_text_order_of_its_numbers() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let reader = app.enrol(event).await;
    let pool = support::raw_pool(&db).await;
    // Transactions 9 and 10 (long committed on any cluster): as text, "10" sorts before "9".
    for tx in ["9", "10"] {
        sqlx::query("insert into feed (event_id, tx, item) values ($1, $2::text::xid8, $3)")
            .bind(event.as_uuid())
            .bind(tx)
            .bind(
                serde_json::to_value(PullItem::DeviceRevoked {
                    position: Cursor::START,
                    device_id: reader.device_id,
                })
                .unwrap(),
            )
            .execute(&pool)
            .await
            .unwrap();
    }
    let first = pull(&app, &reader, Cursor::START, 1).await;
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.next_cursor.tx, 9, "transaction 9 comes first");
    assert!(first.has_more);
    let second = pull(&app, &reader, first.next_cursor, 1).await;
    assert_eq!(second.items.len(), 1, "transaction 10 is not skipped");
    assert_eq!(second.next_cursor.tx, 10);
    let (head, _) = app.store.feed_head(event).await.unwrap();
    assert_eq!(head.tx, 10, "the head is the newest transaction");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let db = TestDb::new().await;
    let limits = HttpLimits {
        max_body_bytes: 64 * 1024,
        ..HttpLimits::default()
    };
    let app = TestApp::start(&db, key(), limits).await;
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let batch = kiosk.check_ins(2);
    push(&app, &kiosk, &batch).await;

    let token = kiosk.token.clone();
    let post = |body: String| {
        app.http
            .post(app.url("/api/v1/push"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(&str, String, u16, ErrorCode)> = vec![
        (
            "malformed json",
            "{\"changes\": [".into(),
            400,
            ErrorCode::InvalidJson,
        ),
        (
            "wrong type",
            "{\"changes\": 5}".into(),
            422,
            ErrorCode::InvalidJson,
        ),
        ("not an object", "[]".into(), 422, ErrorCode::InvalidJson),
        (
            "oversized",
            format!(
                "{{\"changes\": [], \"pad\": \"{}\"}}",
                "x".repeat(100 * 1024)
            ),
            413,
            ErrorCode::PayloadTooLarge,
        ),
    ];
    for (name, body, status, code) in cases {
        let (got_status, got) = error_of(post(body).await.unwrap()).await;
        assert_eq!(got.code, code, "{name}: {}", got.message);
        assert!(
            got_status == status || (status == 422 && got_status == 400),
            "{name}: {got_status}"
        );
    }
    let seq_zero = {
        let mut change = kiosk.check_in();
        change.seq = 0;
        serde_json::to_string(&json!({ "changes": [change] })).unwrap()
    };
    let (status, body) = error_of(post(seq_zero).await.unwrap()).await;
    assert_eq!((status, body.code), (422, ErrorCode::ValidationFailed));
    let too_many = serde_json::to_string(&json!({ "changes": kiosk.check_ins(1001) })).unwrap();
    let response = app
        .http
        .post(app.url("/api/v1/push"))
        .bearer_auth(&kiosk.token)
        .header("content-type", "application/json")
        .body(too_many)
        .send()
        .await
        .unwrap();
    assert!(matches!(response.status().as_u16(), 413 | 422));

    let bad_query = app
        .http
        .get(app.url("/api/v1/pull?after=garbage"))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(bad_query).await.1.code,
        ErrorCode::ValidationFailed
    );
    let zero_limit = app
        .http
        .get(app.url("/api/v1/pull?limit=0"))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(zero_limit).await.1.code,
        ErrorCode::ValidationFailed
    );

    // What was stored before is intact.
    assert_eq!(
        seqs_of(&pull(&app, &kiosk, Cursor::START, 10).await),
        vec![1, 2]
    );
    app.stop().await;
    db.drop_db().await;
}

/// Two instances on one database: a push to one is pulled from, and live-notified by, the other.
#[tokio::test]
async fn two_instances_behave_as_one() {
    let db = TestDb::new().await;
    let a = TestApp::start(&db, key(), HttpLimits::default()).await;
    let b = TestApp::start(&db, key(), HttpLimits::default()).await;
    let event = a.create_event().await;
    let mut writer = a.enrol(event).await;
    let reader = b.enrol(event).await;

    let response = b
        .http
        .get(b.url("/api/v1/live"))
        .bearer_auth(&reader.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut next_notice = async || -> serde_json::Value {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) {
                    return serde_json::from_str(data.trim()).unwrap();
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("a live notice within 10 s")
                .expect("stream open")
                .unwrap();
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    let initial = next_notice().await;
    assert_eq!(initial["position"], "0-0");

    let batch = writer.check_ins(3);
    push(&a, &writer, &batch).await;
    let notice = next_notice().await;
    assert_ne!(notice["position"], "0-0");
    let page = pull(&b, &reader, Cursor::START, 10).await;
    assert_eq!(seqs_of(&page), vec![1, 2, 3]);

    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn guessing_enrolment_tokens_is_rate_limited() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let good = app.enrolment_token(event).await;
    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(5));
    let attempt = |token: String| EnrolmentRequest {
        token,
        device_public_key: key.public_key(),
        label: "Guesser".into(),
        app_version: "1".into(),
    };
    for i in 0..20 {
        let response = app
            .http
            .post(app.url("/api/v1/enrol"))
            .json(&attempt(format!("guess-{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(response).await.1.code,
            ErrorCode::EnrolmentTokenInvalid
        );
    }
    // Even a genuine token waits now, from this address.
    let response = app
        .http
        .post(app.url("/api/v1/enrol"))
        .json(&attempt(good))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await,
        (
            429,
            ErrorBody {
                code: ErrorCode::RateLimited,
                message: "too many attempts; wait a few minutes and try again".into(),
            }
        )
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn every_error_is_json_unknown_routes_wrong_methods_and_timeouts_included() {
    let db = TestDb::new().await;
    let limits = HttpLimits {
        request_timeout: Duration::from_millis(500),
        ..HttpLimits::default()
    };
    let app = TestApp::start(&db, key(), limits).await;

    let (status, body) = error_of(
        app.http
            .get(app.url("/api/v1/nothing-here"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body.code), (404, ErrorCode::NotFound));
    assert_eq!(body.message, "no such route: GET /api/v1/nothing-here");
    let (status, body) =
        error_of(app.http.get(app.url("/no/such/page")).send().await.unwrap()).await;
    assert_eq!((status, body.code), (404, ErrorCode::NotFound));

    let (status, body) =
        error_of(app.http.get(app.url("/api/v1/push")).send().await.unwrap()).await;
    assert_eq!(
        (status, body.code),
        (405, ErrorCode::MethodNotAllowed),
        "{body:?}"
    );
    assert_eq!(body.message, "/api/v1/push does not take GET");

    // A client that stops sending its body half-way: the server gives up after its time bound
    // with `{code: "timeout"}`, which a kiosk retries.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!(
                "POST /api/v1/enrol HTTP/1.1\r\nHost: {addr}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"token\": "
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            answer.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&answer);
            if n == 0 || text.contains("\"message\"") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server answered within its time bound");
    let text = String::from_utf8_lossy(&answer).to_string();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    assert!(text.contains(r#""code":"timeout""#), "{text}");
    assert!(ErrorCode::Timeout.is_transient());

    app.stop().await;
    db.drop_db().await;
}

/// Reads Server-Sent Events: each call gives the next notice's data, or `None` when the stream
/// ended (within `wait`).
struct Notices {
    stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: String,
}

impl Notices {
    async fn open(app: &TestApp, token: &str) -> Notices {
        let response = app
            .http
            .get(app.url("/api/v1/live"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Notices {
            stream: Box::pin(
                response
                    .bytes_stream()
                    .map(|chunk| chunk.map(|b| b.to_vec())),
            ),
            buffer: String::new(),
        }
    }

    async fn next(&mut self, wait: Duration) -> Option<serde_json::Value> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) {
                    return Some(serde_json::from_str(data.trim()).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout(wait, self.stream.next())
                .await
                .expect("the stream said something in time");
            match chunk {
                Some(Ok(bytes)) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                Some(Err(_)) | None => return None,
            }
        }
    }
}

#[tokio::test]
async fn a_live_stream_ends_at_revocation_and_resyncs_after_the_listener_reconnects() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let kiosk = app.enrol(event).await;
    let other = app.enrol(event).await;
    let mut notices = Notices::open(&app, &kiosk.token).await;
    let mut others = Notices::open(&app, &other.token).await;
    assert!(
        notices.next(Duration::from_secs(10)).await.is_some(),
        "the head at once"
    );
    assert!(others.next(Duration::from_secs(10)).await.is_some());

    // The feed grows without a notice reaching this server (as when its Postgres listener is
    // down), then the listener loses its connection: once it is back, every event with streams
    // reads its head again and the streams hear of the row they were never told about.
    let pool = support::raw_pool(&db).await;
    let unheard = app.enrol(event).await;
    sqlx::query("insert into feed (event_id, item) values ($1, $2)")
        .bind(event.as_uuid())
        .bind(
            serde_json::to_value(PullItem::DeviceRevoked {
                position: Cursor::START,
                device_id: unheard.device_id,
            })
            .unwrap(),
        )
        .execute(&pool)
        .await
        .unwrap();
    let ended: i64 = sqlx::query_scalar(
        "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
         where query ilike 'listen%' and datname = current_database()) t",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(ended >= 1, "the listener's connection was found");
    let again = notices.next(Duration::from_secs(15)).await;
    assert_ne!(again.expect("a resync notice")["position"], "0-0");
    assert!(others.next(Duration::from_secs(15)).await.is_some());

    // Revoked: its open stream ends (the kiosk's next request then says device_revoked); the
    // other kiosk's stream goes on and hears of the revocation.
    app.store
        .revoke_device(kiosk.device_id, &support::test_audit("device.revoke"))
        .await
        .unwrap();
    let mut ended_in_time = false;
    for _ in 0..5 {
        if notices.next(Duration::from_secs(10)).await.is_none() {
            ended_in_time = true;
            break;
        }
    }
    assert!(ended_in_time, "the revoked device's stream ended");
    let heard = others
        .next(Duration::from_secs(10))
        .await
        .expect("the other stream is open");
    assert_ne!(heard["position"], "0-0");
    app.stop().await;
    db.drop_db().await;
}

/// The change log, the feed and check_ins have no foreign keys (their per-row checks were most of
/// a push's cost); deleting an event or a device still takes their rows with it, as the
/// cascades did, and leaves other events' rows alone.
#[tokio::test]
async fn deleting_an_event_or_a_device_deletes_its_changes_feed_and_check_ins() {
    let (db, app) = app().await;
    let (gone, kept) = (app.create_event().await, app.create_event().await);
    let mut a = app.enrol(gone).await;
    let mut b = app.enrol(kept).await;
    let mut c = app.enrol(kept).await;
    for (kiosk, n) in [(&mut a, 3), (&mut b, 2), (&mut c, 4)] {
        let batch = kiosk.check_ins(n);
        push(&app, kiosk, &batch).await;
    }
    app.store.catch_up(gone).await.unwrap();
    app.store.catch_up(kept).await.unwrap();
    let counts = |event: sync_protocol::ids::EventId| {
        let pool = app.store.pool().clone();
        async move {
            let mut out = Vec::new();
            // The feed by its items: a row stands for a run of a device's changes.
            for (table, items) in [
                ("changes", "count(*)"),
                ("feed", "coalesce(sum(seq_end - seq + 1), 0)::bigint"),
                ("check_ins", "count(*)"),
            ] {
                let n: i64 =
                    sqlx::query_scalar(&format!("select {items} from {table} where event_id = $1"))
                        .bind(event.as_uuid())
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                out.push(n);
            }
            out
        }
    };
    assert_eq!(counts(gone).await, vec![3, 3, 3]);
    assert_eq!(counts(kept).await, vec![6, 6, 6]);

    sqlx::query("delete from events where id = $1")
        .bind(gone.as_uuid())
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_eq!(counts(gone).await, vec![0, 0, 0]);
    assert_eq!(counts(kept).await, vec![6, 6, 6]);

    sqlx::query("delete from devices where id = $1")
        .bind(c.device_id.as_uuid())
        .execute(app.store.pool())
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from changes where event_id = $1")
        .bind(kept.as_uuid())
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 2);
    app.stop().await;
    db.drop_db().await;
}

/// A push is fed as one feed row per run of consecutive seqs; a filing batch that ends inside a
/// run leaves the filer's position there, and the next batch files the rest of the run once.
#[tokio::test]
async fn a_filing_batch_may_end_inside_a_pushed_run_and_the_next_files_the_rest() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let batch = kiosk.check_ins(7);
    // No server files anything from here: the store files, three changes at a time.
    app.stop().await;
    let store = sync_server::store::pg::PgStore::connect(&db.url)
        .await
        .unwrap();
    let prepared: Vec<_> = batch
        .into_iter()
        .map(|change| sync_server::store::PreparedChange {
            body: Some(change.body().unwrap()),
            digest: [7; 32],
            rejection: None,
            clock_ahead_ms: None,
            change,
        })
        .collect();
    let device = sync_server::store::DeviceAuth {
        device_id: kiosk.device_id,
        event_id: event,
        revoked: false,
    };
    store.push(device, &prepared).await.unwrap();
    let feed_rows: i64 = sqlx::query_scalar("select count(*) from feed where event_id = $1")
        .bind(event.as_uuid())
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(feed_rows, 1, "one push, one run, one feed row");

    let filed = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from check_ins where event_id = $1")
            .bind(event.as_uuid())
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    let behind = || async {
        sqlx::query_scalar::<_, bool>(
            "select exists (select 1 from feed f join filer_positions p using (event_id)
               where f.event_id = $1
                 and (f.tx, f.pos + f.seq_end - f.seq) > (p.tx, p.pos))",
        )
        .bind(event.as_uuid())
        .fetch_one(store.pool())
        .await
        .unwrap()
    };
    // A step files only settled rows: a transaction of another test on this Postgres may hold
    // them back for a moment.
    let step = || async {
        for _ in 0..1200 {
            let filed = store.file_settled(event, 3).await.unwrap().changes;
            if filed > 0 {
                return filed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nothing settled to file for 60 s");
    };
    let mut progress = Vec::new();
    for _ in 0..3 {
        let changes = step().await;
        progress.push((changes, filed().await, behind().await));
    }
    assert_eq!(progress, vec![(3, 3, true), (3, 6, true), (1, 7, false)]);
    assert_eq!(store.file_settled(event, 3).await.unwrap().changes, 0);
    assert_eq!(store.events_to_file().await.unwrap(), vec![]);
    db.drop_db().await;
}

/// Kiosks coming back online open their streams together, each hearing the feed head at once;
/// a run of pushes then reaches each stream as notices at most one per live round
/// (`LIVE_ROUND_EVERY`), the last of them at the feed's head.
#[tokio::test]
async fn streams_opened_together_hear_the_head_and_a_run_of_pushes_in_paced_notices() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut pusher = app.enrol(event).await;
    let batch = pusher.check_ins(3);
    push(&app, &pusher, &batch).await;
    let (head, _) = app.store.feed_head(event).await.unwrap();
    let head = serde_json::to_value(head).unwrap();

    let mut listeners = Vec::new();
    for _ in 0..20 {
        listeners.push(app.enrol(event).await);
    }
    let mut streams =
        futures_util::future::join_all(listeners.iter().map(|k| Notices::open(&app, &k.token)))
            .await;
    for stream in &mut streams {
        let first = stream
            .next(Duration::from_secs(10))
            .await
            .expect("the head");
        assert_eq!(
            first["position"], head,
            "every stream hears the head at once"
        );
    }

    let start = std::time::Instant::now();
    let pushes = 40;
    for _ in 0..pushes {
        let batch = pusher.check_ins(1);
        push(&app, &pusher, &batch).await;
    }
    let (last, _) = app.store.feed_head(event).await.unwrap();
    let last = serde_json::to_value(last).unwrap();
    let stream = &mut streams[0];
    let mut notices = 0u128;
    loop {
        let notice = stream
            .next(Duration::from_secs(10))
            .await
            .expect("the stream goes on");
        notices += 1;
        if notice["position"] == last {
            break;
        }
    }
    let rounds = start.elapsed().as_millis() / sync_server::live::LIVE_ROUND_EVERY.as_millis();
    assert!(
        notices <= rounds + 2,
        "{notices} notices for {pushes} pushes in {rounds} live rounds"
    );
    app.stop().await;
    db.drop_db().await;
}
