//! A protocol-level kiosk for system tests: enrols over HTTP, keeps an outbox of changes, pushes
//! unacknowledged rows with retries the way a real kiosk must (never losing, never doubling), and
//! pulls the feed.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sync_protocol::UnixMillis;
use sync_protocol::changes::{Change, ChangeBody, CheckIn, FoundBy};
use sync_protocol::crypto::SecretKey;
use sync_protocol::hlc::{DEFAULT_MAX_DRIFT_MS, HlcClock};
use sync_protocol::ids::{ChangeId, CheckInId, DeviceId, EventId, GateId, TicketId};
use sync_protocol::model::Direction;
use sync_protocol::verdict::VerdictCode;
use sync_protocol::wire::{
    Cursor, EnrolmentRequest, EnrolmentResponse, PullItem, PullPage, PushRequest, PushResponse,
};

/// Wall clock of the test process.
pub fn now() -> UnixMillis {
    UnixMillis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

/// A kiosk as far as the protocol goes.
pub struct SimKiosk {
    pub device_id: DeviceId,
    pub event_id: EventId,
    pub token: String,
    pub outbox: Vec<Change>,
    pub acknowledged: u64,
    pub cursor: Cursor,
    clock: HlcClock,
    rng: ChaCha20Rng,
    http: reqwest::Client,
}

impl SimKiosk {
    /// Enrols at `base` with a one-time token.
    pub async fn enrol(base: &str, token: &str, label: &str) -> SimKiosk {
        let mut rng = ChaCha20Rng::from_entropy();
        let key = SecretKey::generate(&mut rng);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let response = http
            .post(format!("{base}/api/v1/enrol"))
            .json(&EnrolmentRequest {
                token: token.to_owned(),
                device_public_key: key.public_key(),
                label: label.to_owned(),
                app_version: "system-test".to_owned(),
            })
            .send()
            .await
            .expect("enrol request");
        assert_eq!(
            response.status(),
            200,
            "enrol: {}",
            response.text().await.unwrap()
        );
        let enrolled: EnrolmentResponse = response.json().await.unwrap();
        SimKiosk {
            device_id: enrolled.device_id,
            event_id: enrolled.event_id,
            token: enrolled.device_token,
            outbox: Vec::new(),
            acknowledged: 0,
            cursor: Cursor::START,
            clock: HlcClock::new(DEFAULT_MAX_DRIFT_MS),
            rng,
            http,
        }
    }

    /// Queues `n` offline check-ins of fresh tickets at `gate`.
    pub fn queue_check_ins(&mut self, n: usize, gate: GateId) {
        for _ in 0..n {
            let now = now();
            let body = ChangeBody::CheckIn(CheckIn {
                id: CheckInId::new(now, &mut self.rng),
                ticket_id: TicketId::new(now, &mut self.rng),
                gate_id: gate,
                direction: Direction::Entry,
                verdict: VerdictCode::Admitted,
                offline: true,
                scanned_at: now,
                found_by: FoundBy::Code,
            });
            let seq = self.outbox.len() as u64 + 1;
            let hlc = self.clock.tick(now);
            self.outbox.push(Change::new(
                ChangeId::new(now, &mut self.rng),
                self.device_id,
                seq,
                hlc,
                0,
                &body,
            ));
        }
    }

    /// Pushes every unacknowledged row in batches, retrying through connection failures and
    /// server errors (bounded: gives up after `max_failures`). Returns the number of failures seen.
    pub async fn push_all(&mut self, base: &str, batch: usize, max_failures: u32) -> u32 {
        let mut failures = 0;
        while (self.acknowledged as usize) < self.outbox.len() {
            let start = self.acknowledged as usize;
            let end = (start + batch).min(self.outbox.len());
            let request = PushRequest {
                changes: self.outbox[start..end].to_vec(),
            };
            let sent = self
                .http
                .post(format!("{base}/api/v1/push"))
                .bearer_auth(&self.token)
                .json(&request)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    let response: PushResponse = response.json().await.expect("push response");
                    assert!(response.acknowledged_seq >= self.acknowledged);
                    self.acknowledged = response.acknowledged_seq;
                }
                Ok(response) if response.status().is_server_error() => failures += 1,
                Ok(response) => panic!(
                    "push refused: {} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                ),
                Err(_) => failures += 1,
            }
            if failures > max_failures {
                panic!("push failed {failures} times");
            }
            if failures > 0 && (self.acknowledged as usize) < self.outbox.len() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        failures
    }

    /// Pulls the whole feed from the kiosk's cursor, waiting out `pending` pages.
    pub async fn pull_all(&mut self, base: &str) -> Vec<PullItem> {
        let mut items = Vec::new();
        for _ in 0..2_000 {
            let page: PullPage = self
                .http
                .get(format!(
                    "{base}/api/v1/pull?after={}&limit=1000",
                    self.cursor
                ))
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("pull request")
                .json()
                .await
                .expect("pull page");
            self.cursor = page.next_cursor;
            let done = !page.has_more && !page.pending;
            let empty = page.items.is_empty();
            items.extend(page.items);
            if done {
                return items;
            }
            if empty {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("the feed did not settle");
    }
}

/// A real kiosk engine's store, as `kiosk init`, `enroll` and `fetch-package` leave it: created
/// in a fresh temporary folder under PIN 24682468 (test key derivation), enrolled at the server
/// `base` for `event` as `label`, and holding the package. Returns the store, its folder (the
/// caller removes it) and the package version fetched.
pub async fn enrolled_store(
    base: &str,
    pool: &sqlx::PgPool,
    event: EventId,
    label: &str,
) -> (
    kiosk_core::store::KioskStore,
    std::path::PathBuf,
    Option<u64>,
) {
    use kiosk_core::store::KioskStore;
    let dir = std::env::temp_dir().join(format!(
        "gp-sys-{label}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = std::sync::Mutex::new(
        KioskStore::create(
            &dir.join("kiosk.db"),
            "24682468",
            sync_protocol::crypto::KdfParams::FOR_TESTS,
        )
        .unwrap(),
    );
    let token = crate::seed::enrolment_token(pool, event).await;
    let invite = kiosk_core::enrol::invite_from(base, Some(&token)).unwrap();
    kiosk_core::enrol::enrol(&store, &invite, label)
        .await
        .unwrap();
    let client = kiosk_core::sync::SyncClient::for_store(&store.lock().unwrap()).unwrap();
    let version = client.fetch_package(&store).await.unwrap();
    (store.into_inner().unwrap(), dir, version)
}
