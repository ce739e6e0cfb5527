//! The admin catalogue on a real server and database: events, ticket types, gates, forms, CSV
//! imports, ticket status, enrolment tokens and devices; roles, bad input, and what kiosks see.

mod support;

use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use reqwest::Method;
use serde_json::{Value, json};
use support::{T0, TestApp, TestDb};
use sync_protocol::certificate::CertificateSet;
use sync_protocol::crypto::SecretKey;
use sync_protocol::ids::EventId;
use sync_protocol::model::TicketStatus;
use sync_protocol::ticket_code::{TicketCode, verify};
use sync_protocol::wire::{Cursor, EnrolmentInvite, PullItem, PullPage};
use sync_server::api::HttpLimits;
use sync_server::store::{Role, StaffStore};

async fn app() -> (TestDb, TestApp) {
    let db = TestDb::new().await;
    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(7));
    let app = TestApp::start(&db, key, HttpLimits::default()).await;
    (db, app)
}

/// Sends a JSON request (or none) and returns the status and the JSON body (`null` if empty).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, value)
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, Method::GET, path, Some(token), None).await
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, path, Some(token), Some(body)).await
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, Method::PATCH, path, Some(token), Some(body)).await
}

async fn raw(
    app: &TestApp,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn import(app: &TestApp, token: &str, event: &str, csv: &str) -> (u16, Value) {
    raw(
        app,
        &format!("/api/v1/admin/events/{event}/import"),
        token,
        "text/csv; charset=utf-8",
        csv.as_bytes().to_vec(),
    )
    .await
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

/// An event with a "Day pass" and a "VIP" ticket type; returns (event id, day id, vip id).
async fn event_with_types(app: &TestApp, admin: &str) -> (String, String, String) {
    let (status, event) = post(
        app,
        "/api/v1/admin/events",
        admin,
        json!({ "name": "Harbour Days", "time_zone": "Europe/Berlin",
                "starts_at": T0.0, "ends_at": T0.0 + 86_400_000 }),
    )
    .await;
    assert_eq!(status, 201, "{event}");
    let id = event["id"].as_str().unwrap().to_owned();
    let mut types = Vec::new();
    for name in ["Day pass", "VIP"] {
        let (status, t) = post(
            app,
            &format!("/api/v1/admin/events/{id}/ticket-types"),
            admin,
            json!({ "name": name }),
        )
        .await;
        assert_eq!(status, 201, "{t}");
        types.push(t["id"].as_str().unwrap().to_owned());
    }
    (id, types[0].clone(), types[1].clone())
}

async fn tickets(app: &TestApp, admin: &str, event: &str) -> Vec<Value> {
    let (status, list) = get(
        app,
        &format!("/api/v1/admin/events/{event}/tickets?limit=5000"),
        admin,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

#[tokio::test]
async fn events_ticket_types_and_gates() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let (event, day, vip) = event_with_types(&app, &admin).await;

    let (status, list) = get(&app, "/api/v1/admin/events", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, renamed) = patch(
        &app,
        &format!("/api/v1/admin/events/{event}"),
        &admin,
        json!({ "name": "  Harbour Nights ", "time_zone": "Etc/UTC" }),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "Harbour Nights");
    let (_, fetched) = get(&app, &format!("/api/v1/admin/events/{event}"), &admin).await;
    assert_eq!(fetched, renamed);

    // Bad events: each refused with a clear message, nothing stored.
    let base = json!({ "name": "X", "time_zone": "UTC", "starts_at": 10, "ends_at": 20 });
    for (change, status, want_code, needle) in [
        (json!({ "name": "  " }), 422, "validation_failed", "name"),
        (
            json!({ "time_zone": "Mars/Base" }),
            422,
            "validation_failed",
            "time_zone",
        ),
        (json!({ "ends_at": 5 }), 422, "validation_failed", "ends_at"),
        (json!({ "starts_at": "soon" }), 400, "invalid_json", ""),
        (json!({ "colour": "red" }), 400, "invalid_json", "colour"),
    ] {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (got, err) = post(&app, "/api/v1/admin/events", &admin, body).await;
        assert_eq!((got, code(&err)), (status, want_code), "{change} -> {err}");
        assert!(err["message"].as_str().unwrap().contains(needle), "{err}");
    }
    let malformed = raw(
        &app,
        "/api/v1/admin/events",
        &admin,
        "application/json",
        b"{\"name\":".to_vec(),
    )
    .await;
    assert_eq!((malformed.0, code(&malformed.1)), (400, "invalid_json"));
    let (_, list) = get(&app, "/api/v1/admin/events", &admin).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "nothing stored by bad input"
    );
    let (status, err) = get(&app, "/api/v1/admin/events/not-an-id", &admin).await;
    assert_eq!((status, code(&err)), (404, "not_found"));

    // Ticket types: windows, clearing a bound with null, unique names.
    let types_path = format!("/api/v1/admin/events/{event}/ticket-types");
    let (status, early) = post(
        &app,
        &types_path,
        &admin,
        json!({ "name": "Early bird", "valid_from": 1000, "valid_until": 2000 }),
    )
    .await;
    assert_eq!(status, 201, "{early}");
    let (status, cleared) = patch(
        &app,
        &format!("{types_path}/{}", early["id"].as_str().unwrap()),
        &admin,
        json!({ "valid_from": null }),
    )
    .await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["valid_from"], Value::Null);
    assert_eq!(cleared["valid_until"], 2000);
    let (status, err) = post(&app, &types_path, &admin, json!({ "name": "VIP" })).await;
    assert_eq!((status, code(&err)), (409, "conflict"), "{err}");
    let (status, err) = post(
        &app,
        &types_path,
        &admin,
        json!({ "name": "Backwards", "valid_from": 2000, "valid_until": 1000 }),
    )
    .await;
    assert_eq!((status, code(&err)), (422, "validation_failed"));
    let (_, types) = get(&app, &types_path, &admin).await;
    assert_eq!(types.as_array().unwrap().len(), 3);

    // Gates: allowed types must belong to the event.
    let gates_path = format!("/api/v1/admin/events/{event}/gates");
    let (status, gate) = post(
        &app,
        &gates_path,
        &admin,
        json!({ "name": "North", "mode": "entry_and_exit", "reentry": "after_exit",
                "allowed_ticket_types": [vip], "required_answers": ["photo_consent"] }),
    )
    .await;
    assert_eq!(status, 201, "{gate}");
    assert_eq!(gate["allowed_ticket_types"], json!([vip]));
    let (other, _, other_type) = {
        let (status, e) = post(
            &app,
            "/api/v1/admin/events",
            &admin,
            json!({ "name": "Other", "time_zone": "UTC", "starts_at": 1, "ends_at": 2 }),
        )
        .await;
        assert_eq!(status, 201);
        let id = e["id"].as_str().unwrap().to_owned();
        let (_, t) = post(
            &app,
            &format!("/api/v1/admin/events/{id}/ticket-types"),
            &admin,
            json!({ "name": "Other pass" }),
        )
        .await;
        (id, (), t["id"].as_str().unwrap().to_owned())
    };
    let (status, err) = post(
        &app,
        &gates_path,
        &admin,
        json!({ "name": "South", "allowed_ticket_types": [day, other_type] }),
    )
    .await;
    assert_eq!((status, code(&err)), (422, "validation_failed"));
    assert!(
        err["message"].as_str().unwrap().contains(&other_type),
        "{err}"
    );
    let (status, err) = post(
        &app,
        &gates_path,
        &admin,
        json!({ "name": "South", "mode": "sideways" }),
    )
    .await;
    assert_eq!((status, code(&err)), (400, "invalid_json"));
    let (status, updated) = patch(
        &app,
        &format!("{gates_path}/{}", gate["id"].as_str().unwrap()),
        &admin,
        json!({ "allowed_ticket_types": [], "reentry": "never" }),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["allowed_ticket_types"], json!([]));
    assert_eq!(updated["mode"], "entry_and_exit");
    let (status, _) = patch(
        &app,
        &format!(
            "/api/v1/admin/events/{other}/gates/{}",
            gate["id"].as_str().unwrap()
        ),
        &admin,
        json!({ "name": "Stolen" }),
    )
    .await;
    assert_eq!(status, 404, "a gate is only reachable through its event");
    let (_, gates) = get(&app, &gates_path, &admin).await;
    assert_eq!(gates.as_array().unwrap().len(), 1);

    // Every write is in the audit log.
    let audit = app.store.list_audit(100).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in [
        "event.create",
        "event.update",
        "ticket_type.create",
        "ticket_type.update",
        "gate.create",
        "gate.update",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    // Besides the test's own setup (source `test`), every entry is ada's.
    assert!(
        audit
            .iter()
            .all(|a| a.actor == "ada" || a.action == "session.login" || a.source == "test"),
        "{audit:?}"
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn roles_and_sessions_are_checked_everywhere() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let coordinator = app.staff("cora", Role::Coordinator).await;
    let user = app.store.user_by_name("ada").await.unwrap().unwrap();
    let (expired, hash) = sync_server::auth::new_token();
    app.store
        .create_session(
            hash,
            user.id,
            sync_protocol::UnixMillis(1_000),
            &support::test_audit("session.login"),
        )
        .await
        .unwrap();
    let (event, day, _) = event_with_types(&app, &admin).await;
    let ticket = uuid::Uuid::now_v7();
    let device = uuid::Uuid::now_v7();
    let endpoints: Vec<(Method, String, Value)> = vec![
        (Method::GET, "/api/v1/admin/events".into(), Value::Null),
        (Method::POST, "/api/v1/admin/events".into(), json!({})),
        (
            Method::GET,
            format!("/api/v1/admin/events/{event}"),
            Value::Null,
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/events/{event}"),
            json!({}),
        ),
        (
            Method::GET,
            format!("/api/v1/admin/events/{event}/ticket-types"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/events/{event}/ticket-types"),
            json!({"name": "x"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/events/{event}/ticket-types/{day}"),
            json!({}),
        ),
        (
            Method::GET,
            format!("/api/v1/admin/events/{event}/gates"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/events/{event}/gates"),
            json!({"name": "x"}),
        ),
        (
            Method::GET,
            format!("/api/v1/admin/events/{event}/forms"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/events/{event}/forms"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/events/{event}/import"),
            json!({}),
        ),
        (
            Method::GET,
            format!("/api/v1/admin/events/{event}/tickets"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/tickets/{ticket}/revoke"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/events/{event}/enrolment-tokens"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/devices/{device}/revoke"),
            Value::Null,
        ),
        (
            Method::GET,
            format!("/api/v1/admin/events/{event}/devices"),
            Value::Null,
        ),
    ];
    for (method, path, body) in &endpoints {
        let body = (!body.is_null()).then(|| body.clone());
        let (status, err) = call(&app, method.clone(), path, None, body.clone()).await;
        assert_eq!(
            (status, code(&err)),
            (401, "unauthorized"),
            "{method} {path}"
        );
        let (status, err) = call(&app, method.clone(), path, Some("bogus"), body.clone()).await;
        assert_eq!(
            (status, code(&err)),
            (401, "unauthorized"),
            "{method} {path}"
        );
        let (status, err) = call(&app, method.clone(), path, Some(&expired), body.clone()).await;
        assert_eq!(
            (status, code(&err)),
            (401, "token_expired"),
            "{method} {path}"
        );
        let (status, err) = call(&app, method.clone(), path, Some(&coordinator), body).await;
        if path.ends_with("/devices") {
            assert_eq!(status, 200, "coordinators read the device list: {err}");
        } else {
            assert_eq!((status, code(&err)), (403, "forbidden"), "{method} {path}");
        }
    }
    // The coordinator's refused writes changed nothing.
    let (_, types) = get(
        &app,
        &format!("/api/v1/admin/events/{event}/ticket-types"),
        &admin,
    )
    .await;
    assert_eq!(types.as_array().unwrap().len(), 2);
    app.stop().await;
    db.drop_db().await;
}

fn form(title: &str) -> Value {
    json!({
        "title": title,
        "pages": [{ "id": "about", "title": "About you", "sections": [{
            "id": "main", "title": "Main", "fields": [
                { "id": "company", "label": "Company", "kind": "text" },
                { "id": "photo_consent", "label": "Photos OK", "kind": "checkbox", "required": true }
            ]
        }]}]
    })
}

#[tokio::test]
async fn forms_are_checked_and_versioned() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let (event, _, _) = event_with_types(&app, &admin).await;
    let path = format!("/api/v1/admin/events/{event}/forms");

    let (status, first) = post(&app, &path, &admin, form("Walk-ins")).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["version"], 1);
    let mut next = form("Walk-ins, v2");
    next["id"] = first["id"].clone();
    next["version"] = json!(99);
    let (status, second) = post(&app, &path, &admin, next).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(
        (second["id"].clone(), second["version"].clone()),
        (first["id"].clone(), json!(2))
    );

    // Every problem at once, with its path; nothing stored.
    let mut bad = form("Broken");
    bad["pages"][0]["sections"][0]["fields"][1]["id"] = json!("company");
    bad["pages"][0]["sections"][0]["fields"][0]["kind"] = json!("single_choice");
    let (status, err) = post(&app, &path, &admin, bad).await;
    assert_eq!((status, code(&err)), (422, "validation_failed"), "{err}");
    let problems = err["problems"].as_array().unwrap();
    assert!(problems.len() >= 2, "{err}");
    assert!(
        problems
            .iter()
            .all(|p| p["path"].as_str().unwrap().starts_with("pages[0]")),
        "{err}"
    );
    let (status, err) = post(&app, &path, &admin, json!({ "title": 5 })).await;
    assert_eq!((status, code(&err)), (422, "validation_failed"), "{err}");
    let (status, err) = post(&app, &path, &admin, json!([1, 2])).await;
    assert_eq!((status, code(&err)), (422, "validation_failed"), "{err}");

    // A form id of one event cannot be versioned from another.
    let (_, other) = post(
        &app,
        "/api/v1/admin/events",
        &admin,
        json!({ "name": "Other", "time_zone": "UTC", "starts_at": 1, "ends_at": 2 }),
    )
    .await;
    let mut stolen = form("Stolen");
    stolen["id"] = first["id"].clone();
    let (status, _) = post(
        &app,
        &format!(
            "/api/v1/admin/events/{}/forms",
            other["id"].as_str().unwrap()
        ),
        &admin,
        stolen,
    )
    .await;
    assert_eq!(status, 409);

    let (_, versions) = get(&app, &path, &admin).await;
    let versions: Vec<(Value, Value)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].clone(), v["title"].clone()))
        .collect();
    assert_eq!(
        versions,
        vec![
            (json!(1), json!("Walk-ins")),
            (json!(2), json!("Walk-ins, v2"))
        ]
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_bad_csv_reports_every_line_and_imports_nothing() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let (event, _, _) = event_with_types(&app, &admin).await;
    let (status, _) = import(
        &app,
        &admin,
        &event,
        "first_name,last_name,email,ticket_type,code\nTaken,Code,t@example.org,VIP,OPAQUE-1\n",
    )
    .await;
    assert_eq!(status, 200);

    let csv = "first_name,last_name,email,ticket_type,code,external_ref,Diet\n\
               Ada,Lovelace,ada@example.org,Day pass,,R-1,vegan\n\
               Bad,Type,b@example.org,Platinum,,,\n\
               Sig,Ned,c@example.org,VIP,GP1:ABCDEF,,\n\
               Dup,Ref,d@example.org,VIP,,R-1,\n\
               Formula,Ok,e@example.org,VIP,,,=HYPERLINK(\"x\")\n\
               Short,Row\n\
               Reuse,Code,f@example.org,VIP,OPAQUE-1,,\n";
    let (status, err) = import(&app, &admin, &event, csv).await;
    assert_eq!((status, code(&err)), (422, "validation_failed"), "{err}");
    let lines: Vec<u64> = err["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].as_u64().unwrap())
        .collect();
    // Line 8's code clash is found against the database, after the file itself is clean; so the
    // file's own problems come first.
    assert_eq!(lines, vec![3, 4, 5, 7], "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("nothing was imported")
    );
    let fixed = csv
        .replace("Platinum", "VIP")
        .replace("GP1:ABCDEF", "")
        .replace(",R-1,\n", ",R-5,\n")
        .replace("Short,Row\n", "");
    let (status, err) = import(&app, &admin, &event, &fixed).await;
    assert_eq!((status, code(&err)), (422, "validation_failed"), "{err}");
    assert_eq!(err["problems"][0]["line"], 7, "{err}");
    assert!(
        err["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("another ticket"),
        "{err}"
    );
    assert_eq!(
        tickets(&app, &admin, &event).await.len(),
        1,
        "nothing imported"
    );

    // Hostile bodies.
    let path = format!("/api/v1/admin/events/{event}/import");
    let (status, err) = raw(&app, &path, &admin, "application/json", b"{}".to_vec()).await;
    assert_eq!((status, code(&err)), (422, "validation_failed"), "{err}");
    let (status, err) = raw(
        &app,
        &path,
        &admin,
        "text/csv",
        b"first_name,last_name,email,ticket_type\nJos\xe9,B,j@example.org,VIP\n".to_vec(),
    )
    .await;
    assert_eq!((status, code(&err)), (422, "validation_failed"));
    assert!(
        err["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("UTF-8"),
        "{err}"
    );
    let (status, err) = import(
        &app,
        &admin,
        &event,
        "first_name,email,EMAIL,last_name,ticket_type\n",
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(err["problems"][0]["line"], 1, "{err}");
    let huge = format!(
        "first_name,last_name,email,ticket_type\n{},B,h@example.org,VIP\n",
        "x".repeat(100_000)
    );
    let (status, _) = import(&app, &admin, &event, &huge).await;
    assert_eq!(status, 422);
    let (status, err) = import(&app, &admin, &uuid::Uuid::now_v7().to_string(), "a\n").await;
    assert_eq!((status, code(&err)), (404, "not_found"));
    assert_eq!(
        tickets(&app, &admin, &event).await.len(),
        1,
        "still nothing imported"
    );
    app.stop().await;
    db.drop_db().await;
}

// Multi-threaded, as the server runs: the CSV is parsed off the async workers (block_in_place).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reimport_updates_instead_of_duplicating() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let (event, _, vip) = event_with_types(&app, &admin).await;
    let csv = "first_name,last_name,email,ticket_type,code,external_ref,Diet\n\
               Ada,Lovelace,ada@example.org,Day pass,,R-1,vegan\n\
               Grace,Hopper,grace@example.org,VIP,OPAQUE-42,,\n\
               Bob,Builder,bob@example.org,Day pass,,,=1+1\n";
    let (status, summary) = import(&app, &admin, &event, csv).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary, json!({ "rows": 3, "created": 3, "updated": 0 }));
    let before = tickets(&app, &admin, &event).await;
    assert_eq!(before.len(), 3);

    // Server-signed codes verify with the server key for this event and name the ticket.
    let event_id: EventId = event.parse().unwrap();
    let ada = before.iter().find(|t| t["first_name"] == "Ada").unwrap();
    let TicketCode::Signed(signed) = TicketCode::parse(ada["code"].as_str().unwrap()).unwrap()
    else {
        panic!("a signed code: {ada}");
    };
    let certificates = CertificateSet::new(event_id, &app.key.public_key(), &[], []);
    let verified = verify(&signed, event_id, &app.key.public_key(), &certificates).unwrap();
    assert_eq!(
        verified.ticket_id().to_string(),
        ada["ticket_id"].as_str().unwrap()
    );
    let grace = before.iter().find(|t| t["first_name"] == "Grace").unwrap();
    assert_eq!(grace["code"], "OPAQUE-42");

    // The same file again: nothing new. Changed names and answers update in place; by
    // external_ref, else by email (any case) and ticket type.
    let (status, summary) = import(&app, &admin, &event, csv).await;
    assert_eq!(status, 200);
    assert_eq!(summary, json!({ "rows": 3, "created": 0, "updated": 3 }));
    let changed = "first_name,last_name,email,ticket_type,external_ref\n\
                   Augusta Ada,King,ada.king@example.org,Day pass,R-1\n\
                   Grace,Hopper,GRACE@example.org,VIP,\n\
                   Grace,Hopper,grace@example.org,Day pass,\n";
    let (status, summary) = import(&app, &admin, &event, changed).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary, json!({ "rows": 3, "created": 1, "updated": 2 }));
    let after = tickets(&app, &admin, &event).await;
    assert_eq!(after.len(), 4);
    let ada_after = after
        .iter()
        .find(|t| t["ticket_id"] == ada["ticket_id"])
        .unwrap();
    assert_eq!(ada_after["first_name"], "Augusta Ada");
    assert_eq!(ada_after["email"], "ada.king@example.org");
    assert_eq!(
        ada_after["code"], ada["code"],
        "a kept ticket keeps its code"
    );
    let grace_after = after
        .iter()
        .find(|t| t["ticket_id"] == grace["ticket_id"])
        .unwrap();
    assert_eq!(grace_after["code"], "OPAQUE-42");
    assert_eq!(grace_after["ticket_type_id"].as_str().unwrap(), vip);
    let answers: Value = sqlx::query_scalar::<_, Value>(
        "select answers from attendees a join tickets t on t.attendee_id = a.id where t.id = $1",
    )
    .bind(
        ada["ticket_id"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .unwrap(),
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(
        answers,
        json!({ "Diet": "vegan" }),
        "answers not in the file are kept"
    );
    let bob = after.iter().find(|t| t["first_name"] == "Bob").unwrap();
    let bob_answers: Value =
        sqlx::query_scalar::<_, Value>("select answers from attendees where id = $1")
            .bind(
                bob["attendee_id"]
                    .as_str()
                    .unwrap()
                    .parse::<uuid::Uuid>()
                    .unwrap(),
            )
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!(bob_answers, json!({ "Diet": "=1+1" }), "formulas stay text");

    let audit = app.store.list_audit(10).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "import.csv").count(), 3);
    app.stop().await;
    db.drop_db().await;
}

async fn pull_all(app: &TestApp, token: &str, after: Cursor) -> (Vec<PullItem>, Cursor) {
    let mut items = Vec::new();
    let mut cursor = after;
    for _ in 0..1200 {
        let response = app
            .http
            .get(app.url(&format!("/api/v1/pull?after={cursor}&limit=1000")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let page: PullPage = response.json().await.unwrap();
        items.extend(page.items);
        cursor = page.next_cursor;
        if !page.has_more && !page.pending {
            return (items, cursor);
        }
        if page.pending {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("the feed did not settle");
}

#[tokio::test]
async fn ticket_status_changes_reach_enrolled_kiosks() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let (event, _, _) = event_with_types(&app, &admin).await;
    let (status, _) = import(
        &app,
        &admin,
        &event,
        "first_name,last_name,email,ticket_type\nAda,Lovelace,ada@example.org,VIP\n",
    )
    .await;
    assert_eq!(status, 200);
    let ticket = tickets(&app, &admin, &event).await[0]["ticket_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kiosk = app.enrol(event.parse().unwrap()).await;
    let (_, start) = pull_all(&app, &kiosk.token, Cursor::START).await;

    let (status, change) = post(
        &app,
        &format!("/api/v1/admin/tickets/{ticket}/revoke"),
        &admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{change}");
    assert_eq!(
        (
            change["previous"].clone(),
            change["status"].clone(),
            change["changed"].clone()
        ),
        (json!("valid"), json!("revoked"), json!(true))
    );
    let (items, cursor) = pull_all(&app, &kiosk.token, start).await;
    let statuses: Vec<(String, TicketStatus)> = items
        .iter()
        .filter_map(|i| match i {
            PullItem::TicketStatus {
                ticket_id, status, ..
            } => Some((ticket_id.to_string(), *status)),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, vec![(ticket.clone(), TicketStatus::Revoked)]);

    // Again: a no-op, nothing in the feed. Then reinstate; an unknown action or ticket is 404.
    let (status, again) = post(
        &app,
        &format!("/api/v1/admin/tickets/{ticket}/revoke"),
        &admin,
        Value::Null,
    )
    .await;
    assert_eq!((status, again["changed"].clone()), (200, json!(false)));
    let (status, _) = post(
        &app,
        &format!("/api/v1/admin/tickets/{ticket}/reinstate"),
        &admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let (items, _) = pull_all(&app, &kiosk.token, cursor).await;
    assert!(
        matches!(
            items.as_slice(),
            [PullItem::TicketStatus { status: TicketStatus::Valid, hlc, .. }] if hlc.wall_ms > 0
        ),
        "{items:?}"
    );
    let (status, _) = post(
        &app,
        &format!("/api/v1/admin/tickets/{ticket}/explode"),
        &admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &app,
        &format!("/api/v1/admin/tickets/{}/cancel", uuid::Uuid::now_v7()),
        &admin,
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    let listed = tickets(&app, &admin, &event).await;
    assert_eq!(listed[0]["status"], "valid");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn enrolment_tokens_devices_and_revocation() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let coordinator = app.staff("cora", Role::Coordinator).await;
    let (event, _, _) = event_with_types(&app, &admin).await;
    let (_, gate) = post(
        &app,
        &format!("/api/v1/admin/events/{event}/gates"),
        &admin,
        json!({ "name": "North" }),
    )
    .await;
    let path = format!("/api/v1/admin/events/{event}/enrolment-tokens");

    let (status, created) = post(
        &app,
        &path,
        &admin,
        json!({ "gate_id": gate["id"], "label": "North, left", "expires_in_minutes": 30 }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let invite = EnrolmentInvite::parse_qr_text(created["qr_text"].as_str().unwrap()).unwrap();
    assert_eq!(
        invite.server_url, app.base,
        "defaults to the address the admin used"
    );
    assert_eq!(invite.token, created["token"].as_str().unwrap());
    for (body, needle) in [
        (json!({ "expires_in_minutes": 0 }), "expires_in_minutes"),
        (json!({ "gate_id": uuid::Uuid::now_v7() }), "gate"),
        (json!({ "server_url": "ftp://x" }), "server_url"),
    ] {
        let (status, err) = post(&app, &path, &admin, body).await;
        assert_eq!(status, 422, "{err}");
        assert!(err["message"].as_str().unwrap().contains(needle), "{err}");
    }

    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(9));
    let response = app
        .http
        .post(app.url("/api/v1/enrol"))
        .json(
            &json!({ "token": invite.token, "device_public_key": key.public_key(),
                       "label": "North gate, left", "app_version": "0.1.0" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let enrolled: Value = response.json().await.unwrap();
    assert_eq!(enrolled["gate_id"], gate["id"]);
    let device_token = enrolled["device_token"].as_str().unwrap().to_owned();
    let (_, _) = pull_all(&app, &device_token, Cursor::START).await;

    let (status, devices) = get(
        &app,
        &format!("/api/v1/admin/events/{event}/devices"),
        &coordinator,
    )
    .await;
    assert_eq!(status, 200, "{devices}");
    let device = &devices[0];
    assert_eq!(device["label"], "North gate, left");
    assert_eq!(device["gate_id"], gate["id"]);
    assert!(
        device["last_seen_at"].as_u64().is_some() && device["last_pull_at"].as_u64().is_some(),
        "{device}"
    );
    assert_eq!(device["revoked_at"], Value::Null);
    let device_id = device["id"].as_str().unwrap();

    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/admin/devices/{device_id}/revoke"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, devices) = get(
        &app,
        &format!("/api/v1/admin/events/{event}/devices"),
        &admin,
    )
    .await;
    assert!(devices[0]["revoked_at"].as_u64().is_some());
    let (status, err) = call(&app, Method::GET, "/api/v1/pull", Some(&device_token), None).await;
    assert_eq!((status, code(&err)), (401, "device_revoked"));
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/admin/devices/{}/revoke", uuid::Uuid::now_v7()),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 404);

    let audit = app.store.list_audit(20).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"enrolment_token.create") && actions.contains(&"device.revoke"));
    assert!(
        !serde_json::to_string(&audit)
            .unwrap()
            .contains(invite.token.as_str()),
        "tokens never in the audit log"
    );
    app.stop().await;
    db.drop_db().await;
}

/// 100,000 rows through the HTTP API, timed (printed, not asserted; see docs/benchmarks.md).
#[tokio::test]
async fn import_of_100k_rows() {
    const ROWS: usize = 100_000;
    // A debug build on a busy machine may need more than the default 30 s.
    let db = TestDb::new().await;
    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(7));
    let limits = HttpLimits {
        request_timeout: Duration::from_secs(600),
        ..HttpLimits::default()
    };
    let app = TestApp::start(&db, key, limits).await;
    let admin = app.staff("ada", Role::Admin).await;
    let (event, _, _) = event_with_types(&app, &admin).await;
    let mut csv = String::with_capacity(ROWS * 80);
    csv.push_str("first_name,last_name,email,ticket_type,external_ref,company\n");
    for i in 0..ROWS {
        let ticket_type = if i % 10 == 0 { "VIP" } else { "Day pass" };
        csv.push_str(&format!(
            "First{i},Last{i},person{i}@example.org,{ticket_type},REF-{i},Company {}\n",
            i % 977
        ));
    }
    let started = Instant::now();
    let (status, summary) = import(&app, &admin, &event, &csv).await;
    let first = started.elapsed();
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["created"], ROWS);
    let started = Instant::now();
    let (status, summary) = import(&app, &admin, &event, &csv).await;
    let again = started.elapsed();
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["updated"], ROWS);
    let count: i64 = sqlx::query_scalar("select count(*) from tickets")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(count, ROWS as i64);
    println!(
        "import of {ROWS} rows ({} bytes): first {:.2} s (signing every code), re-import {:.2} s",
        csv.len(),
        first.as_secs_f64(),
        again.as_secs_f64()
    );
    app.stop().await;
    db.drop_db().await;
}

/// A change and its audit entry commit together: when the entry cannot be written, the change is
/// not made either (before, the change stayed and the log never heard of it), and a change that
/// fails leaves no entry behind.
#[tokio::test]
async fn a_change_whose_audit_entry_cannot_be_written_is_not_made() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let (event, _, _) = event_with_types(&app, &admin).await;
    let csv = "first_name,last_name,email,ticket_type\nAda,L,ada@example.org,VIP\n";
    let (status, body) = import(&app, &admin, &event, csv).await;
    assert_eq!(status, 200, "{body}");
    let ticket = tickets(&app, &admin, &event).await[0]["ticket_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kiosk = app.enrol(event.parse().unwrap()).await;

    // The log refuses the entries of these actions (a full disk, a lost grant, a bug).
    let pool = support::raw_pool(&db).await;
    sqlx::query(
        "create function refuse_audit() returns trigger language plpgsql as $$
         begin
           if new.action in ('event.create', 'event.update', 'ticket.revoke', 'device.revoke',
                             'package.publish', 'gate.create') then
             raise exception 'the audit log refuses %', new.action;
           end if;
           return new;
         end $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "create trigger refuse_audit before insert on audit_log
         for each row execute function refuse_audit()",
    )
    .execute(&pool)
    .await
    .unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let feed_before = count("select count(*) from feed").await;

    let (status, _) = post(
        &app,
        "/api/v1/admin/events",
        &admin,
        json!({ "name": "Unlogged", "time_zone": "Europe/Berlin",
                "starts_at": T0.0, "ends_at": T0.0 + 86_400_000 }),
    )
    .await;
    assert_eq!(status, 500);
    let (_, events) = get(&app, "/api/v1/admin/events", &admin).await;
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");

    let (status, _) = patch(
        &app,
        &format!("/api/v1/admin/events/{event}"),
        &admin,
        json!({ "name": "Renamed" }),
    )
    .await;
    assert_eq!(status, 500);
    let (_, stored) = get(&app, &format!("/api/v1/admin/events/{event}"), &admin).await;
    assert_eq!(stored["name"], "Harbour Days");

    let (status, _) = post(
        &app,
        &format!("/api/v1/admin/events/{event}/gates"),
        &admin,
        json!({ "name": "North" }),
    )
    .await;
    assert_eq!(status, 500);
    let (_, gates) = get(&app, &format!("/api/v1/admin/events/{event}/gates"), &admin).await;
    assert_eq!(gates, json!([]));

    let (status, _) = post(
        &app,
        &format!("/api/v1/admin/tickets/{ticket}/revoke"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(tickets(&app, &admin, &event).await[0]["status"], "valid");

    let (status, _) = post(
        &app,
        &format!("/api/v1/admin/devices/{}/revoke", kiosk.device_id),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, 500);
    let (_, devices) = get(
        &app,
        &format!("/api/v1/admin/events/{event}/devices"),
        &admin,
    )
    .await;
    assert_eq!(devices[0]["revoked_at"], Value::Null, "{devices}");

    let (status, _) = post(
        &app,
        &format!("/api/v1/admin/events/{event}/packages"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, 500);
    let (_, packages) = get(
        &app,
        &format!("/api/v1/admin/events/{event}/packages"),
        &admin,
    )
    .await;
    assert_eq!(packages, json!([]));

    assert_eq!(
        count("select count(*) from feed").await,
        feed_before,
        "kiosks hear of nothing that did not happen"
    );

    // Once the log takes entries again, the same change is made, with its entry.
    sqlx::query("drop trigger refuse_audit on audit_log")
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = post(
        &app,
        &format!("/api/v1/admin/tickets/{ticket}/revoke"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let audit = app.store.list_audit(100).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "ticket.revoke").count(),
        1,
        "{actions:?}"
    );
    for never in [
        "event.update",
        "device.revoke",
        "package.publish",
        "gate.create",
    ] {
        assert!(!actions.contains(&never), "{never} in {actions:?}");
    }
    // A change refused for its own reason writes no entry either.
    let (status, _) = post(
        &app,
        &format!("/api/v1/admin/events/{event}/ticket-types"),
        &admin,
        json!({ "name": "VIP" }),
    )
    .await;
    assert_eq!(status, 409);
    let audit = app.store.list_audit(100).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "ticket_type.create")
            .count(),
        2,
        "the two types of event_with_types, not the refused third"
    );
    pool.close().await;
    app.stop().await;
    db.drop_db().await;
}

/// Postgres stores no NUL character, in text or jsonb: a form definition holding one is refused
/// as bad input (422), never a 500, and nothing is stored.
#[tokio::test]
async fn a_form_definition_with_a_nul_character_is_refused_plainly() {
    let (db, app) = app().await;
    let admin = app.staff("ada", Role::Admin).await;
    let (event, _, _) = event_with_types(&app, &admin).await;
    let path = format!("/api/v1/admin/events/{event}/forms");
    let (status, err) = post(
        &app,
        &path,
        &admin,
        json!({ "title": "Walk-in\u{0}", "pages": [] }),
    )
    .await;
    assert_eq!((status, code(&err)), (422, "validation_failed"), "{err}");
    assert!(err["message"].as_str().unwrap().contains("NUL"), "{err}");
    let (_, forms) = get(&app, &path, &admin).await;
    assert_eq!(forms, json!([]));
    app.stop().await;
    db.drop_db().await;
}
