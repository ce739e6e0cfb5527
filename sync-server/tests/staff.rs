//! Staff login, roles, sessions, rate limiting and the audit log, on a real server and database.

mod support;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use support::{TestApp, TestDb};
use sync_protocol::crypto::SecretKey;
use sync_protocol::wire::{ErrorBody, ErrorCode};
use sync_server::api::HttpLimits;
use sync_server::store::{Role, StaffStore};

async fn app() -> (TestDb, TestApp) {
    let db = TestDb::new().await;
    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(1));
    let app = TestApp::start(&db, key, HttpLimits::default()).await;
    (db, app)
}

async fn code_of(response: reqwest::Response) -> (u16, ErrorCode) {
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.code)
}

#[tokio::test]
async fn login_roles_logout_and_audit() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let coordinator = app.staff("cora", Role::Coordinator).await;

    let me: Value = app
        .http
        .get(app.url("/api/v1/admin/me"))
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me, json!({ "username": "cora", "role": "coordinator" }));

    // The audit log is for admins.
    let denied = app
        .http
        .get(app.url("/api/v1/admin/audit"))
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(denied).await, (403, ErrorCode::Forbidden));
    let entries: Vec<Value> = app
        .http
        .get(app.url("/api/v1/admin/audit"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let logins: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "session.login")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(logins, vec!["cora", "ada"]);
    assert_eq!(entries[0]["source"], "127.0.0.1");

    // No token, a wrong token, a device token: unauthorized.
    let none = app
        .http
        .get(app.url("/api/v1/admin/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(none).await, (401, ErrorCode::Unauthorized));

    // Logout ends the session at once.
    let out = app
        .http
        .post(app.url("/api/v1/admin/logout"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = app
        .http
        .get(app.url("/api/v1/admin/me"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(after).await, (401, ErrorCode::Unauthorized));
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_rate_limited() {
    let (db, app) = app().await;
    app.staff("ada", Role::Admin).await;
    let attempt = |password: &'static str| {
        app.http
            .post(app.url("/api/v1/admin/login"))
            .json(&json!({ "username": "ada", "password": password }))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(
            code_of(attempt("wrong-password").await.unwrap()).await,
            (401, ErrorCode::Unauthorized)
        );
    }
    // Even the right password waits now.
    assert_eq!(
        code_of(attempt("ada-password-123").await.unwrap()).await,
        (429, ErrorCode::RateLimited)
    );
    // The limit is per username and client: the same client may still log in as someone else
    // (guessing at "ada" locks out nobody but the guesser's tries at "ada").
    app.staff("bob", Role::Coordinator).await;
    let bob = app
        .http
        .post(app.url("/api/v1/admin/login"))
        .json(&json!({ "username": "bob", "password": "bob-password-123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bob.status(), 200, "{}", bob.text().await.unwrap());
    // Unknown users get the same answer as wrong passwords.
    let unknown = app
        .http
        .post(app.url("/api/v1/admin/login"))
        .json(&json!({ "username": "nobody", "password": "whatever-long" }))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(unknown).await, (401, ErrorCode::Unauthorized));
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn parallel_guesses_cannot_slip_past_the_limit_and_spraying_is_limited_per_client() {
    let (db, app) = app().await;
    app.staff("ada", Role::Admin).await;
    let guess = |username: String| {
        let request = app
            .http
            .post(app.url("/api/v1/admin/login"))
            .json(&json!({ "username": username, "password": "not-the-password" }));
        async move { code_of(request.send().await.unwrap()).await }
    };
    // 25 guesses at once: each is counted before its password is checked, so only 10 are
    // checked at all.
    let answers = futures_util::future::join_all((0..25).map(|_| guess("ada".into()))).await;
    let checked = answers.iter().filter(|a| a.0 == 401).count();
    let limited = answers.iter().filter(|a| a.0 == 429).count();
    assert_eq!((checked, limited), (10, 15), "{answers:?}");
    // One client trying many usernames: limited after 30 failures in all.
    let mut sprayed = Vec::new();
    for i in 0..25 {
        sprayed.push(guess(format!("user{i}")).await.0);
    }
    assert_eq!(
        sprayed.iter().filter(|s| **s == 401).count(),
        5,
        "{sprayed:?}"
    );
    assert!(sprayed[5..].iter().all(|s| *s == 429), "{sprayed:?}");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn an_expired_session_says_so() {
    let (db, app) = app().await;
    let token = app.staff("ada", Role::Admin).await;
    let user = app.store.user_by_name("ada").await.unwrap().unwrap();
    let (old_token, hash) = sync_server::auth::new_token();
    app.store
        .create_session(
            hash,
            user.id,
            sync_protocol::UnixMillis(1_000),
            &support::test_audit("session.login"),
        )
        .await
        .unwrap();
    let expired = app
        .http
        .get(app.url("/api/v1/admin/me"))
        .bearer_auth(&old_token)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(expired).await, (401, ErrorCode::TokenExpired));
    let fine = app
        .http
        .get(app.url("/api/v1/admin/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn metrics_are_for_staff_not_kiosks() {
    let (db, app) = app().await;
    let event = app.create_event().await;
    let mut kiosk = app.enrol(event).await;
    let batch = kiosk.check_ins(3);
    let pushed = app
        .http
        .post(app.url("/api/v1/push"))
        .bearer_auth(&kiosk.token)
        .json(&json!({ "changes": batch }))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 200);

    let anonymous = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(code_of(anonymous).await, (401, ErrorCode::Unauthorized));
    let as_kiosk = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(as_kiosk).await, (401, ErrorCode::Unauthorized));

    let coordinator = app.staff("cora", Role::Coordinator).await;
    let metrics = |token: &str| {
        let request = app.http.get(app.url("/metrics")).bearer_auth(token);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let text = metrics(&coordinator).await;
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(
        text.contains(r#"route="/api/v1/push""#),
        "requests are labelled by route pattern"
    );
    assert!(
        text.contains(r#"sync_changes_total{result="accepted"}"#),
        "{text}"
    );
    // The filer files the three check-ins after the push was answered, and counts them.
    let start = std::time::Instant::now();
    loop {
        let text = metrics(&coordinator).await;
        let filed: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("sync_filed_changes_total "))
            .map_or(0.0, |v| v.trim().parse().unwrap());
        if filed >= 3.0 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the filer's count never reached 3: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_limits_and_audit_use_the_real_client() {
    let db = TestDb::new().await;
    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(3));
    // The test's own connections come from 127.0.0.1: that is the proxy here.
    let limits = HttpLimits {
        trusted_proxies: sync_server::client::parse_trusted("127.0.0.1").unwrap(),
        ..HttpLimits::default()
    };
    let app = TestApp::start(&db, key, limits).await;
    app.staff("admin", Role::Admin).await;
    let login = |client: &'static str, password: &'static str| {
        app.http
            .post(app.url("/api/v1/admin/login"))
            .header("x-forwarded-for", client)
            .json(&json!({ "username": "admin", "password": password }))
            .send()
    };
    // Someone guesses at "admin" from one place: that place is limited...
    for _ in 0..10 {
        assert_eq!(
            code_of(login("198.51.100.1", "guess-guess").await.unwrap())
                .await
                .0,
            401
        );
    }
    assert_eq!(
        code_of(login("198.51.100.1", "admin-password-123").await.unwrap())
            .await
            .0,
        429
    );
    // ...and the real admin, elsewhere behind the same proxy, is not locked out.
    let ok = login("203.0.113.20", "admin-password-123").await.unwrap();
    assert_eq!(ok.status(), 200);
    let source: String = sqlx::query_scalar(
        "select source from audit_log where action = 'session.login' order by id desc limit 1",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(
        source, "203.0.113.20",
        "the audit log names the real client"
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn without_a_trusted_proxy_a_forwarded_header_changes_nothing() {
    let (db, app) = app().await;
    app.staff("admin", Role::Admin).await;
    for i in 0..10 {
        let guess = app
            .http
            .post(app.url("/api/v1/admin/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({ "username": "admin", "password": "guess-guess" }))
            .send()
            .await
            .unwrap();
        assert_eq!(code_of(guess).await.0, 401);
    }
    // A made-up address is no way around the limit.
    let dodge = app
        .http
        .post(app.url("/api/v1/admin/login"))
        .header("x-forwarded-for", "203.0.113.99")
        .json(&json!({ "username": "admin", "password": "guess-guess" }))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(dodge).await.0, 429);
    app.stop().await;
    db.drop_db().await;
}

/// Found by schemathesis: a username with a NUL answered 500 (Postgres text holds no NUL, and the
/// attempt was stored before anything else). A name no account can have is refused plainly.
#[tokio::test]
async fn a_username_no_account_can_have_is_refused_plainly() {
    let (db, app) = app().await;
    app.staff("ada", Role::Admin).await;
    let too_long = "a".repeat(65);
    for username in ["ada\u{0}", "", "ad\na", too_long.as_str()] {
        let response = app
            .http
            .post(app.url("/api/v1/admin/login"))
            .json(&json!({ "username": username, "password": "ada-password-123" }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            code_of(response).await,
            (422, ErrorCode::ValidationFailed),
            "{username:?}"
        );
    }
    // Nothing was counted against the client: the real login still works.
    let response = app
        .http
        .post(app.url("/api/v1/admin/login"))
        .json(&json!({ "username": "ada", "password": "ada-password-123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await;
    db.drop_db().await;
}
