//! `sync-server admin package ...`: publish, list and export event packages; and
//! `sync-server bench package`: build and serve a large package against the configured database.
//!
//! Publishing signs with the server key from the data folder (`crate::keys`), the same key the
//! running server uses, so a package published here is accepted by every enrolled kiosk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Subcommand;
use serde_json::json;
use sync_protocol::ids::EventId;

use super::{CliError, Output, audit};
use crate::store::PackageStore;
use crate::store::pg::PgStore;

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Build, sign and store the next package version of an event (kiosks fetch it at once).
    Publish {
        #[arg(long)]
        event: EventId,
    },
    /// List the stored package versions of an event.
    List {
        #[arg(long)]
        event: EventId,
    },
    /// Write a full package to a file (for a USB stick at a venue with no network).
    Export {
        #[arg(long)]
        event: EventId,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// The version to export (default: the latest).
        #[arg(long)]
        version: Option<u64>,
    },
}

pub async fn run(
    store: &PgStore,
    command: PackageCommand,
    out: Output,
    data_dir: &Path,
) -> Result<(), CliError> {
    match command {
        PackageCommand::Publish { event } => {
            let key = crate::keys::load_or_create(data_dir)
                .map_err(|e| CliError::Invalid(e.to_string()))?;
            let published = crate::packages::publish(
                store,
                &key,
                event,
                crate::state::now(),
                &crate::store::Who::cli(),
            )
            .await?;
            out.print(&published, || {
                format!(
                    "published package version {} of event {event}: {} tickets, {} bytes ({} gzip){}",
                    published.version,
                    published.ticket_count,
                    published.body_len,
                    published.body_gzip_len,
                    published
                        .delta
                        .as_ref()
                        .map(|d| format!(
                            "; delta from version {}: {} bytes",
                            d.base_version, d.body_len
                        ))
                        .unwrap_or_default()
                )
            });
        }
        PackageCommand::List { event } => {
            let packages = store.list_packages(event).await?;
            out.print(&packages, || {
                if packages.is_empty() {
                    return format!("no package published for event {event}");
                }
                let mut text = String::from("version  body           bytes      gzip  tickets\n");
                for p in &packages {
                    let kind = match p.base_version {
                        Some(base) => format!("delta from {base}"),
                        None => "full".to_owned(),
                    };
                    text.push_str(&format!(
                        "{:>7}  {:<13} {:>9} {:>9} {:>8}\n",
                        p.version, kind, p.body_len, p.body_gzip_len, p.ticket_count
                    ));
                }
                text.trim_end().to_owned()
            });
        }
        PackageCommand::Export {
            event,
            out: path,
            version,
        } => {
            let file = store
                .package_file(event, version)
                .await?
                .ok_or_else(|| CliError::Invalid(format!("no such package of event {event}")))?;
            // Check it against the key kiosks pinned before writing it for them.
            let key = crate::keys::load_or_create(data_dir)
                .map_err(|e| CliError::Invalid(e.to_string()))?;
            let manifest = file.manifest.open(&key.public_key()).map_err(|e| {
                CliError::Invalid(format!(
                    "the stored package does not verify with the current server key \
                     (was the key rotated? publish again): {e}"
                ))
            })?;
            let bytes = file.to_bytes();
            std::fs::write(&path, &bytes)?;
            audit(
                store,
                "package.export",
                Some(event.to_string()),
                json!({ "version": manifest.version, "file": path.display().to_string() }),
            )
            .await?;
            out.print(
                &json!({
                    "event_id": event,
                    "version": manifest.version,
                    "file": path.display().to_string(),
                    "bytes": bytes.len(),
                }),
                || {
                    format!(
                        "wrote package version {} of event {event} to {} ({} bytes)",
                        manifest.version,
                        path.display(),
                        bytes.len()
                    )
                },
            );
        }
    }
    Ok(())
}

/// `sync-server bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Seed a scratch event with N tickets, publish it twice (full, then with 1% changed: the
    /// delta), serve the bodies through a real server on loopback, print the times, and delete
    /// the scratch event.
    Package {
        #[arg(long, default_value_t = 100_000)]
        tickets: usize,
        /// Downloads of each kind; the median is reported.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
}

/// Runs a benchmark against `store` (a scratch event, removed afterwards).
pub async fn bench(store: &PgStore, command: BenchCommand) -> Result<(), CliError> {
    let BenchCommand::Package { tickets, rounds } = command;
    bench::run(store, tickets, rounds.max(1)).await
}

mod bench {
    use std::collections::BTreeMap;

    use rand::RngCore;
    use sync_protocol::crypto::SecretKey;
    use sync_protocol::package::{PackageBody, PackageFile, open_package};

    use super::*;
    use crate::packages::build;
    use crate::store::{NewDevice, SyncStore};

    /// The audit entry of a step of the benchmark (its scratch event is deleted at the end).
    fn bench_audit(action: &'static str, event_id: EventId) -> crate::store::AuditEntry {
        crate::store::Who::cli().entry(action, Some(event_id.to_string()), json!({ "bench": true }))
    }

    fn ms(d: Duration) -> String {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    }

    fn median(mut times: Vec<Duration>) -> Duration {
        times.sort();
        times[times.len() / 2]
    }

    pub async fn run(store: &PgStore, tickets: usize, rounds: usize) -> Result<(), CliError> {
        let rng = &mut rand::rngs::OsRng;
        let key = SecretKey::generate(rng);
        let now = crate::state::now();
        let event = sync_protocol::model::Event {
            id: EventId::new(now, rng),
            name: format!("bench {tickets} tickets"),
            time_zone: "Europe/Berlin".into(),
            starts_at: now,
            ends_at: now.plus_millis(86_400_000),
        };
        store
            .create_event(&event, &bench_audit("event.create", event.id))
            .await?;
        let result = measure(store, &key, event.id, tickets, rounds).await;
        sqlx::query("delete from events where id = $1")
            .bind(event.id.as_uuid())
            .execute(store.pool())
            .await
            .map_err(crate::store::StoreError::from)?;
        result
    }

    async fn measure(
        store: &PgStore,
        key: &SecretKey,
        event_id: EventId,
        tickets: usize,
        rounds: usize,
    ) -> Result<(), CliError> {
        let mut report = BTreeMap::new();
        let started = Instant::now();
        let token = seed(store, key, event_id, tickets).await?;
        eprintln!("seeded {tickets} tickets in {}", ms(started.elapsed()));

        // Publish 1: full only. Phases timed separately; `publish` does the same three steps.
        let t = Instant::now();
        let rows = store.package_rows(event_id).await?;
        let read = t.elapsed();
        let t = Instant::now();
        let (full, delta) = build(rows, key, crate::state::now());
        let built = t.elapsed();
        let t = Instant::now();
        store
            .insert_package(
                &full,
                delta.as_ref(),
                &bench_audit("package.publish", event_id),
            )
            .await?;
        let stored = t.elapsed();
        report.insert("publish_1_read_ms", read.as_millis());
        report.insert("publish_1_build_sign_gzip_ms", built.as_millis());
        report.insert("publish_1_store_ms", stored.as_millis());
        report.insert("body_bytes", full.body.len() as u128);
        report.insert("body_gzip_bytes", full.body_gzip.len() as u128);

        // Publish 2: 1% of tickets revoked, full plus delta, through `publish`.
        sqlx::query(
            "update tickets set status = 'revoked'
             where id in (select id from tickets where event_id = $1 order by id limit $2)",
        )
        .bind(event_id.as_uuid())
        .bind((tickets / 100) as i64)
        .execute(store.pool())
        .await
        .map_err(crate::store::StoreError::from)?;
        let t = Instant::now();
        let second = crate::packages::publish(
            store,
            key,
            event_id,
            crate::state::now(),
            &crate::store::Who::cli(),
        )
        .await?;
        report.insert("publish_2_total_ms", t.elapsed().as_millis());
        report.insert(
            "delta_bytes",
            second.delta.as_ref().map_or(0, |d| d.body_len) as u128,
        );

        // Serve through a real server on loopback.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::serve(
            listener,
            store.clone(),
            key.clone(),
            crate::api::HttpLimits::default(),
            async move {
                let _ = stopped.await;
            },
        ));

        let (status, manifest_json) = get(addr, "/api/v1/package", &token, &[]).await?;
        check(status, 200, "manifest")?;
        let offer: crate::packages::PackageOffer = serde_json::from_slice(&manifest_json)
            .map_err(|e| CliError::Invalid(format!("manifest answer: {e}")))?;
        let mut identity = Vec::new();
        let mut gzip = Vec::new();
        let mut halves = Vec::new();
        let mut delta = Vec::new();
        let mut body = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            let (status, bytes) = get(addr, &offer.body_url, &token, &[]).await?;
            identity.push(t.elapsed());
            check(status, 200, "identity body")?;
            body = bytes;

            let t = Instant::now();
            let (status, bytes) =
                get(addr, &offer.body_url, &token, &["accept-encoding: gzip"]).await?;
            gzip.push(t.elapsed());
            check(status, 200, "gzip body")?;
            if bytes.len() as u64 != second.body_gzip_len {
                return Err(CliError::Invalid("gzip body has the wrong length".into()));
            }

            let half = body.len() / 2;
            let t = Instant::now();
            let (s1, first) = get(
                addr,
                &offer.body_url,
                &token,
                &[&format!("range: bytes=0-{}", half - 1)],
            )
            .await?;
            let (s2, rest) = get(
                addr,
                &offer.body_url,
                &token,
                &[&format!("range: bytes={half}-")],
            )
            .await?;
            halves.push(t.elapsed());
            check(s1, 206, "first half")?;
            check(s2, 206, "second half")?;
            if [first, rest].concat() != body {
                return Err(CliError::Invalid(
                    "the two halves differ from the body".into(),
                ));
            }

            let t = Instant::now();
            let url = format!("/api/v1/package/{}/body?base=1", second.version);
            let (status, _) = get(addr, &url, &token, &[]).await?;
            delta.push(t.elapsed());
            check(status, 200, "delta body")?;
        }
        let _ = stop.send(());
        let _ = server.await;

        // The served body verifies against the key and holds every ticket.
        let file = PackageFile {
            manifest: offer.manifest,
            body,
        };
        let (_, opened) = open_package(&file, &key.public_key(), event_id, None)
            .map_err(|e| CliError::Invalid(format!("served package does not open: {e}")))?;
        let PackageBody::Full(snapshot) = opened else {
            return Err(CliError::Invalid(
                "served a delta for a full request".into(),
            ));
        };
        if snapshot.tickets.len() != tickets {
            return Err(CliError::Invalid("served package lacks tickets".into()));
        }

        report.insert(
            "serve_full_identity_median_ms",
            median(identity).as_millis(),
        );
        report.insert("serve_full_gzip_median_ms", median(gzip).as_millis());
        report.insert(
            "serve_full_in_two_ranges_median_ms",
            median(halves).as_millis(),
        );
        report.insert("serve_delta_median_ms", median(delta).as_millis());
        report.insert("tickets", tickets as u128);
        report.insert("rounds", rounds as u128);
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
        Ok(())
    }

    fn check(status: u16, expected: u16, what: &str) -> Result<(), CliError> {
        if status == expected {
            Ok(())
        } else {
            Err(CliError::Invalid(format!(
                "{what}: status {status}, expected {expected}"
            )))
        }
    }

    /// One event's worth of data: a ticket type, two gates, `tickets` attendees and tickets, and
    /// one enrolled kiosk. Returns the kiosk's device token.
    async fn seed(
        store: &PgStore,
        key: &SecretKey,
        event_id: EventId,
        tickets: usize,
    ) -> Result<String, CliError> {
        let rng = &mut rand::rngs::OsRng;
        let now = crate::state::now();
        let pool = store.pool();
        let db = |e: sqlx::Error| CliError::Store(e.into());
        let ticket_type = uuid::Uuid::now_v7();
        sqlx::query("insert into ticket_types (id, event_id, name) values ($1, $2, 'Day pass')")
            .bind(ticket_type)
            .bind(event_id.as_uuid())
            .execute(pool)
            .await
            .map_err(db)?;
        for (name, mode) in [("North", "entry_and_exit"), ("South", "entry_only")] {
            sqlx::query(
                "insert into gates (id, event_id, name, mode, reentry) values ($1, $2, $3, $4, 'after_exit')",
            )
            .bind(uuid::Uuid::now_v7())
            .bind(event_id.as_uuid())
            .bind(name)
            .bind(mode)
            .execute(pool)
            .await
            .map_err(db)?;
        }
        for start in (0..tickets).step_by(10_000) {
            let n = (tickets - start).min(10_000);
            let attendees: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
            let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
            let first: Vec<String> = (start..start + n).map(|i| format!("Guest{i}")).collect();
            let emails: Vec<String> = (start..start + n)
                .map(|i| format!("guest{i}@example.org"))
                .collect();
            let codes: Vec<String> = (0..n).map(|_| format!("{:016X}", rng.next_u64())).collect();
            sqlx::query(
                "insert into attendees (id, event_id, first_name, last_name, email, answers)
                 select a, $1, f, 'Bench', e, '{\"diet\": \"none\"}'
                 from unnest($2::uuid[], $3::text[], $4::text[]) as s(a, f, e)",
            )
            .bind(event_id.as_uuid())
            .bind(&attendees)
            .bind(&first)
            .bind(&emails)
            .execute(pool)
            .await
            .map_err(db)?;
            sqlx::query(
                "insert into tickets (id, event_id, attendee_id, ticket_type_id, status, code)
                 select t, $1, a, $2, 'valid', c
                 from unnest($3::uuid[], $4::uuid[], $5::text[]) as s(t, a, c)",
            )
            .bind(event_id.as_uuid())
            .bind(ticket_type)
            .bind(&ids)
            .bind(&attendees)
            .bind(&codes)
            .execute(pool)
            .await
            .map_err(db)?;
        }
        // One kiosk, enrolled as `POST /api/v1/enrol` would.
        let (token, token_hash) = crate::auth::new_token();
        let (_, enrol_hash) = crate::auth::new_token();
        store
            .create_enrolment_token(
                enrol_hash,
                event_id,
                None,
                "bench",
                now.plus_millis(60_000),
                &bench_audit("enrolment_token.create", event_id),
            )
            .await?;
        let device_key = SecretKey::generate(rng);
        let device_id = sync_protocol::ids::DeviceId::new(now, rng);
        let certificate = sync_protocol::crypto::Signed::sign(
            &sync_protocol::certificate::DeviceCertificate {
                device_id,
                event_id,
                public_key: device_key.public_key(),
                label: "bench kiosk".into(),
                gate_id: None,
                issued_at: now,
            },
            key,
        );
        let enrolled = store
            .complete_enrolment(
                enrol_hash,
                &NewDevice {
                    id: device_id,
                    event_id,
                    gate_id: None,
                    label: "bench kiosk".into(),
                    app_version: "bench".into(),
                    token_hash,
                    public_key: device_key.public_key(),
                    certificate,
                },
                now,
            )
            .await?;
        if !enrolled {
            return Err(CliError::Invalid("bench kiosk enrolment failed".into()));
        }
        Ok(token)
    }

    /// A plain HTTP/1.1 GET on loopback; returns the status and the raw body bytes as sent.
    async fn get(
        addr: std::net::SocketAddr,
        path: &str,
        token: &str,
        extra: &[&str],
    ) -> Result<(u16, Vec<u8>), CliError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\nconnection: close\r\n"
        );
        for header in extra {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| CliError::Invalid("response without headers".into()))?;
        let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| CliError::Invalid("response without status".into()))?;
        if head.contains("transfer-encoding: chunked") {
            return Err(CliError::Invalid(
                "expected a content-length response".into(),
            ));
        }
        Ok((status, response[end + 4..].to_vec()))
    }
}
