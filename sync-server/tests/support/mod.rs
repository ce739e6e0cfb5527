//! Test support: a real server on a fresh Postgres database, bound to port 0.
//!
//! The fresh database comes from the system-tests harness (`system_tests::db`): `DATABASE_URL`
//! names an admin connection where databases may be created (scripts/test sets it; without it
//! the local server on 127.0.0.1:5432 is used, and a missing server fails loudly).

#![allow(dead_code)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sqlx::PgPool;
use sync_protocol::UnixMillis;
use sync_protocol::changes::{Change, ChangeBody, CheckIn, FoundBy};
use sync_protocol::crypto::SecretKey;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{ChangeId, CheckInId, DeviceId, EventId, GateId, TicketId};
use sync_protocol::model::{Direction, Event};
use sync_protocol::verdict::VerdictCode;
use sync_protocol::wire::{EnrolmentRequest, EnrolmentResponse};
use sync_server::api::HttpLimits;
use sync_server::auth::new_token;
use sync_server::store::SyncStore;
use sync_server::store::pg::PgStore;
use tokio::sync::oneshot;

pub const T0: UnixMillis = UnixMillis(1_790_000_000_000);

pub use system_tests::db::TestDb;

/// The audit entry of a change a test makes through the store directly.
pub fn test_audit(action: &'static str) -> sync_server::store::AuditEntry {
    sync_server::store::AuditEntry {
        actor: sync_server::store::Actor::Cli {
            os_user: "test".into(),
        },
        action,
        target: None,
        details: serde_json::json!({}),
        source: "test".into(),
    }
}

/// Server logs in test output when `TEST_LOG` is set (e.g. `TEST_LOG=debug`).
pub fn init_logs() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A running server instance.
pub struct TestApp {
    pub base: String,
    pub store: PgStore,
    pub key: SecretKey,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Starts an instance on `db` with `key` (two instances share a key, as replicas would).
    pub async fn start(db: &TestDb, key: SecretKey, limits: HttpLimits) -> TestApp {
        let store = PgStore::connect(&db.url).await.expect("connect");
        Self::start_on(store, key, limits).await
    }

    /// Starts an instance whose pool is opened and kept open as `sync-server serve` does (the
    /// benchmarks; tests open connections as needed, to stay within Postgres' connections).
    #[allow(dead_code)]
    pub async fn start_serving(
        db: &TestDb,
        key: SecretKey,
        limits: HttpLimits,
        connections: u32,
    ) -> TestApp {
        let store = PgStore::connect_serving(&db.url, connections)
            .await
            .expect("connect");
        let app = Self::start_on(store, key, limits).await;
        app.store.warm().await.expect("warm the pool");
        app
    }

    async fn start_on(store: PgStore, key: SecretKey, limits: HttpLimits) -> TestApp {
        init_logs();
        store.migrate().await.expect("migrate");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sync_server::serve(
            listener,
            store.clone(),
            key.clone(),
            limits,
            async move {
                let _ = stopped.await;
            },
        ));
        TestApp {
            base,
            store,
            key,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// Whether the feed of `event` holds device changes past the filer's position (read without
    /// asking the filer to catch up).
    pub async fn filer_behind(&self, event: EventId) -> bool {
        sqlx::query_scalar(
            "select exists (select 1 from events e
               left join filer_positions p on p.event_id = e.id
               cross join lateral (
                   select 1 from feed f
                   where f.event_id = e.id and f.item is null
                     and (f.tx, f.pos + f.seq_end - f.seq)
                         > (coalesce(p.tx, '0'::xid8), coalesce(p.pos, 0))
                   limit 1) waiting
               where e.id = $1)",
        )
        .bind(event.as_uuid())
        .fetch_one(self.store.pool())
        .await
        .unwrap()
    }

    /// Creates an event and returns its id.
    pub async fn create_event(&self) -> EventId {
        let mut rng = ChaCha20Rng::from_entropy();
        let event = Event {
            id: EventId::new(T0, &mut rng),
            name: "Harbour Days".into(),
            time_zone: "Europe/Berlin".into(),
            starts_at: T0,
            ends_at: T0.plus_millis(86_400_000),
        };
        self.store
            .create_event(&event, &test_audit("event.create"))
            .await
            .unwrap();
        event.id
    }

    /// A fresh one-time enrolment token for `event`, valid for an hour.
    pub async fn enrolment_token(&self, event: EventId) -> String {
        let (token, hash) = new_token();
        let expires = sync_server::state::now().plus_millis(3_600_000);
        self.store
            .create_enrolment_token(
                hash,
                event,
                None,
                "test",
                expires,
                &test_audit("enrolment_token.create"),
            )
            .await
            .unwrap();
        token
    }

    /// Enrols a kiosk for `event`.
    pub async fn enrol(&self, event: EventId) -> Kiosk {
        let token = self.enrolment_token(event).await;
        let key = SecretKey::generate(&mut ChaCha20Rng::from_entropy());
        let response = self
            .http
            .post(self.url("/api/v1/enrol"))
            .json(&EnrolmentRequest {
                token,
                device_public_key: key.public_key(),
                label: "North gate".into(),
                app_version: "test".into(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let enrolled: EnrolmentResponse = response.json().await.unwrap();
        Kiosk {
            device_id: enrolled.device_id,
            event_id: enrolled.event_id,
            token: enrolled.device_token,
            server_key: enrolled.server_public_key,
            next_seq: 1,
            rng: ChaCha20Rng::from_entropy(),
        }
    }
}

impl TestApp {
    /// Creates a staff account and logs it in; returns the session token.
    pub async fn staff(&self, username: &str, role: sync_server::store::Role) -> String {
        use sync_server::store::StaffStore;
        let password = format!("{username}-password-123");
        self.store
            .create_user(
                &sync_server::store::UserRecord {
                    id: uuid::Uuid::now_v7(),
                    username: username.to_owned(),
                    password_hash: sync_server::staff::hash_password(&password).unwrap(),
                    role,
                    disabled: false,
                },
                &test_audit("user.create"),
            )
            .await
            .unwrap();
        let response = self
            .http
            .post(self.url("/api/v1/admin/login"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login of {username}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }
}

/// A kiosk as the server sees it: a device token and a sequence counter.
pub struct Kiosk {
    pub device_id: DeviceId,
    pub event_id: EventId,
    pub token: String,
    /// The server key pinned at enrolment.
    pub server_key: sync_protocol::crypto::PublicKey,
    pub next_seq: u64,
    pub rng: ChaCha20Rng,
}

impl Kiosk {
    /// A check-in change with the next seq.
    pub fn check_in(&mut self) -> Change {
        let body = ChangeBody::CheckIn(CheckIn {
            id: CheckInId::new(T0, &mut self.rng),
            ticket_id: TicketId::new(T0, &mut self.rng),
            gate_id: GateId::new(T0, &mut self.rng),
            direction: Direction::Entry,
            verdict: VerdictCode::Admitted,
            offline: true,
            scanned_at: T0,
            found_by: FoundBy::Code,
        });
        let seq = self.next_seq;
        self.next_seq += 1;
        Change::new(
            ChangeId::new(T0, &mut self.rng),
            self.device_id,
            seq,
            Hlc::new(sync_server::state::now().as_u64(), seq as u16),
            1,
            &body,
        )
    }

    pub fn check_ins(&mut self, n: usize) -> Vec<Change> {
        (0..n).map(|_| self.check_in()).collect()
    }
}

/// Opens a raw pool on the test database (to hold transactions open in tests).
pub async fn raw_pool(db: &TestDb) -> PgPool {
    PgPool::connect(&db.url).await.unwrap()
}
