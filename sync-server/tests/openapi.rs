//! `/openapi.json` against the router that serves the API: the same routes, every operation
//! reachable at the address it is described at, every schema it refers to defined.

mod support;

use std::collections::BTreeSet;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;
use support::{TestApp, TestDb};
use sync_protocol::crypto::SecretKey;
use sync_server::api::HttpLimits;
use sync_server::api::openapi::ApiDoc;
use sync_server::store::pg::PgStore;
use utoipa::OpenApi;

/// Every (method, path) the description lists.
fn described(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if [
                "get", "post", "put", "patch", "delete", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                operations.insert((method.clone(), path.clone()));
            }
        }
    }
    operations
}

/// Every `$ref` anywhere in `value`.
fn refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(target)) => {
                        out.insert(target.clone());
                    }
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_router_serves_exactly_the_described_routes() {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let served: BTreeSet<(String, String)> = sync_server::api::routes::<PgStore>()
        .served()
        .iter()
        .cloned()
        .collect();
    let described = described(&doc);
    assert!(served.len() >= 40, "{served:?}");
    let undescribed: Vec<_> = served.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&served).collect();
    assert!(
        undescribed.is_empty(),
        "served but not in /openapi.json: {undescribed:?}"
    );
    assert!(
        unserved.is_empty(),
        "in /openapi.json but not served: {unserved:?}"
    );
}

#[test]
fn every_operation_has_a_success_answer_an_error_answer_and_defined_schemas() {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|status| status.starts_with('2')),
                "{method} {path} has no success answer"
            );
            assert_eq!(
                responses["default"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}: errors are {{code, message}}"
            );
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has no summary"
            );
        }
    }
    let mut targets = BTreeSet::new();
    refs(&doc, &mut targets);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let undefined: Vec<&String> = targets
        .iter()
        .filter(|target| {
            target
                .strip_prefix("#/components/schemas/")
                .is_none_or(|name| !schemas.contains_key(name))
        })
        .collect();
    assert!(
        undefined.is_empty(),
        "referred to but not defined: {undefined:?}"
    );
    for needed in [
        "PushRequest",
        "PullItem",
        "Change",
        "ErrorCode",
        "ConflictRecord",
        "Resolution",
    ] {
        assert!(schemas.contains_key(needed), "{needed} is not described");
    }
    // Security as the handlers check it.
    assert_eq!(
        doc["paths"]["/api/v1/push"]["post"]["security"][0]["device_token"],
        serde_json::json!([])
    );
    assert_eq!(
        doc["paths"]["/api/v1/admin/events"]["get"]["security"][0]["staff_session"],
        serde_json::json!([])
    );
    assert!(doc["paths"]["/api/v1/enrol"]["post"]["security"].is_null());
}

/// What to put in a path's `{parameter}` so the route matches.
fn fill(path: &str) -> String {
    let uuid = "01936f4e-8c2a-7b3d-9e4f-0a1b2c3d4e5f";
    path.replace("{version}", "1")
        .replace("{action}", "revoke")
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                uuid
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_description_is_served_and_every_operation_answers_where_it_is_described() {
    let db = TestDb::new().await;
    let key = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(7));
    let app = TestApp::start(&db, key, HttpLimits::default()).await;

    let response = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let served: Value = response.json().await.unwrap();
    assert_eq!(served, serde_json::to_value(ApiDoc::openapi()).unwrap());

    for (method, path) in described(&served) {
        let url = app.url(&fill(&path));
        let method: reqwest::Method = method.to_uppercase().parse().unwrap();
        // No credentials and no body: the route must still be the described one, whatever it
        // then refuses (401, 400, 404 of a record).
        let response = app.http.request(method.clone(), &url).send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: {text}");
        assert!(
            !text.contains("no such route"),
            "{method} {path} is described but not served: {text}"
        );
        assert!(status < 500, "{method} {path}: {status} {text}");
    }
    app.stop().await;
    db.drop_db().await;
}
