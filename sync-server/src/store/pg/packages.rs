//! Event packages on Postgres: reading what a package carries in one snapshot, storing published
//! versions, and serving their bodies in chunks.
//!
//! The read runs in one `REPEATABLE READ READ ONLY` transaction, so the rows and the feed cursor
//! come from the same snapshot; the cursor is the newest feed row of a transaction older than every
//! one still running (`pg_snapshot_xmin`), so nothing can later commit below it. Bodies are stored
//! without TOAST compression (see the migration), so `substring` reads only the chunks asked for.

use sqlx::Row;
use sqlx::postgres::PgRow;
use sync_protocol::UnixMillis;
use sync_protocol::certificate::DeviceCertificate;
use sync_protocol::changes::CheckIn;
use sync_protocol::crypto::Signed;
use sync_protocol::forms::Form;
use sync_protocol::hlc::Hlc;
use sync_protocol::ids::{
    AttendeeId, CheckInId, DeviceId, EventId, FormId, GateId, IdError, TicketId, TicketTypeId,
};
use sync_protocol::model::{Attendee, Event, FormRef, Gate, Ticket, TicketType};
use sync_protocol::package::{PackageFile, PackageManifest};
use sync_protocol::wire::Cursor;
use uuid::Uuid;

use super::{FEED_CHANNEL, PgStore, parse_cursor, to_i64};
use crate::store::{
    AuditEntry, CheckInRow, NewPackage, PackageBodyInfo, PackageRows, PackageStore, PackageSummary,
    StoreError, StoredManifest,
};

fn corrupt_id(e: IdError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn millis(value: Option<i64>) -> Option<UnixMillis> {
    value.map(|v| UnixMillis(v.max(0) as u64))
}

/// A text column holding a snake_case enum value (gate mode, ticket status...).
fn text_enum<T: serde::de::DeserializeOwned>(row: &PgRow, column: &str) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_value(serde_json::Value::String(text.clone()))
        .map_err(|_| StoreError::Corrupt(format!("{column} {text:?}")))
}

/// substring() takes int4 positions (a bytea is at most 1 GB anyway).
fn to_i32(value: u64, what: &str) -> Result<i32, StoreError> {
    i32::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} {value} is out of range")))
}

fn version_of(value: i64) -> u64 {
    value.max(0) as u64
}

impl PackageStore for PgStore {
    async fn package_rows(&self, event_id: EventId) -> Result<PackageRows, StoreError> {
        // Walk-ins pushed before are in the package.
        self.catch_up(event_id).await?;
        let event_uuid = event_id.as_uuid();
        let mut tx = self.begin().await?;
        sqlx::query("set transaction isolation level repeatable read read only")
            .execute(&mut *tx)
            .await?;

        let row =
            sqlx::query("select id, name, time_zone, starts_at, ends_at from events where id = $1")
                .bind(event_uuid)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound("event"))?;
        let event = Event {
            id: event_id,
            name: row.try_get("name")?,
            time_zone: row.try_get("time_zone")?,
            starts_at: UnixMillis(row.try_get::<i64, _>("starts_at")?.max(0) as u64),
            ends_at: UnixMillis(row.try_get::<i64, _>("ends_at")?.max(0) as u64),
        };

        let ticket_types = sqlx::query(
            "select id, name, valid_from, valid_until from ticket_types where event_id = $1",
        )
        .bind(event_uuid)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            Ok(TicketType {
                id: TicketTypeId::from_uuid(row.try_get("id")?).map_err(corrupt_id)?,
                name: row.try_get("name")?,
                valid_from: millis(row.try_get("valid_from")?),
                valid_until: millis(row.try_get("valid_until")?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        let gates = sqlx::query(
            "select id, name, mode, reentry, allowed_ticket_types, required_answers, show_answers,
                    print_badge
             from gates where event_id = $1",
        )
        .bind(event_uuid)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            let allowed: Vec<Uuid> = row.try_get("allowed_ticket_types")?;
            Ok(Gate {
                id: GateId::from_uuid(row.try_get("id")?).map_err(corrupt_id)?,
                name: row.try_get("name")?,
                allowed_ticket_types: allowed
                    .into_iter()
                    .map(TicketTypeId::from_uuid)
                    .collect::<Result<_, _>>()
                    .map_err(corrupt_id)?,
                mode: text_enum(row, "mode")?,
                reentry: text_enum(row, "reentry")?,
                required_answers: row.try_get("required_answers")?,
                show_answers: row.try_get("show_answers")?,
                print_badge: text_enum(row, "print_badge")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        let forms = sqlx::query(
            "select distinct on (id) id, version, definition from forms
             where event_id = $1 order by id, version desc",
        )
        .bind(event_uuid)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(form_from_row)
        .collect::<Result<Vec<_>, StoreError>>()?;

        let attendees = sqlx::query(
            "select id, first_name, last_name, email, phone, answers, form_id, form_version
             from attendees where event_id = $1",
        )
        .bind(event_uuid)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            let answers: serde_json::Value = row.try_get("answers")?;
            let form_id: Option<Uuid> = row.try_get("form_id")?;
            let form_version: Option<i32> = row.try_get("form_version")?;
            let form = match (form_id, form_version) {
                (Some(id), Some(version)) => Some(FormRef {
                    id: FormId::from_uuid(id).map_err(corrupt_id)?,
                    version: version.max(0) as u32,
                }),
                _ => None,
            };
            Ok(Attendee {
                id: AttendeeId::from_uuid(row.try_get("id")?).map_err(corrupt_id)?,
                first_name: row.try_get("first_name")?,
                last_name: row.try_get("last_name")?,
                email: row.try_get("email")?,
                phone: row.try_get("phone")?,
                answers: serde_json::from_value(answers)
                    .map_err(|e| StoreError::Corrupt(format!("attendee answers: {e}")))?,
                form,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        let tickets = sqlx::query(
            "select id, attendee_id, ticket_type_id, status, code from tickets where event_id = $1",
        )
        .bind(event_uuid)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            Ok(Ticket {
                id: TicketId::from_uuid(row.try_get("id")?).map_err(corrupt_id)?,
                attendee_id: AttendeeId::from_uuid(row.try_get("attendee_id")?)
                    .map_err(corrupt_id)?,
                ticket_type_id: TicketTypeId::from_uuid(row.try_get("ticket_type_id")?)
                    .map_err(corrupt_id)?,
                status: text_enum(row, "status")?,
                code: row.try_get("code")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        let check_ins = sqlx::query(
            "select device_id, hlc, payload from changes
             where event_id = $1 and kind = 'check_in' and status = 'accepted'",
        )
        .bind(event_uuid)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            let payload: serde_json::Value = row.try_get("payload")?;
            let hlc: i64 = row.try_get("hlc")?;
            Ok(CheckInRow {
                check_in: serde_json::from_value::<CheckIn>(payload)
                    .map_err(|e| StoreError::Corrupt(format!("check-in payload: {e}")))?,
                device_id: DeviceId::from_uuid(row.try_get("device_id")?).map_err(corrupt_id)?,
                hlc: Hlc::from_i64(hlc).ok_or_else(|| StoreError::Corrupt(format!("hlc {hlc}")))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        let annulments = sqlx::query(
            "select device_id, payload->>'check_in_id' as check_in_id from changes
             where event_id = $1 and kind = 'check_in_annulment' and status = 'accepted'",
        )
        .bind(event_uuid)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            let check_in: Option<String> = row.try_get("check_in_id")?;
            let check_in = check_in
                .as_deref()
                .unwrap_or_default()
                .parse::<CheckInId>()
                .map_err(|e| StoreError::Corrupt(format!("annulment check_in_id: {e}")))?;
            Ok((
                DeviceId::from_uuid(row.try_get("device_id")?).map_err(corrupt_id)?,
                check_in,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        let mut certificates = Vec::new();
        let mut revoked_devices = Vec::new();
        for row in sqlx::query(
            "select id, certificate, revoked_at is not null as revoked from devices
             where event_id = $1",
        )
        .bind(event_uuid)
        .fetch_all(&mut *tx)
        .await?
        {
            if row.try_get("revoked")? {
                revoked_devices.push(DeviceId::from_uuid(row.try_get("id")?).map_err(corrupt_id)?);
            } else {
                let certificate: serde_json::Value = row.try_get("certificate")?;
                certificates.push(
                    serde_json::from_value::<Signed<DeviceCertificate>>(certificate)
                        .map_err(|e| StoreError::Corrupt(format!("device certificate: {e}")))?,
                );
            }
        }

        let printed_badges = sqlx::query_scalar::<_, Uuid>(
            "select distinct ticket_id from badge_prints where event_id = $1",
        )
        .bind(event_uuid)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|id| TicketId::from_uuid(id).map_err(corrupt_id))
        .collect::<Result<Vec<_>, StoreError>>()?;

        let cursor = match sqlx::query(
            // Ordered by the xid8 column, not by its text (a bare `tx` here would be the text).
            // The last position of the last row (the end of its run).
            "select f.tx::text as tx, f.pos + coalesce(f.seq_end - f.seq, 0) as pos from feed f
             where f.event_id = $1 and f.tx < pg_snapshot_xmin(pg_current_snapshot())
             order by f.tx desc, f.pos desc limit 1",
        )
        .bind(event_uuid)
        .fetch_optional(&mut *tx)
        .await?
        {
            Some(row) => parse_cursor(row.try_get("tx")?, row.try_get("pos")?)?,
            None => Cursor::START,
        };

        let previous = sqlx::query(
            "select version, body from packages
             where event_id = $1 and base_version is null order by version desc limit 1",
        )
        .bind(event_uuid)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| -> Result<(u64, Vec<u8>), StoreError> {
            Ok((version_of(row.try_get("version")?), row.try_get("body")?))
        })
        .transpose()?;
        tx.commit().await?;

        Ok(PackageRows {
            event,
            ticket_types,
            gates,
            forms,
            attendees,
            tickets,
            check_ins,
            annulments,
            certificates,
            revoked_devices,
            printed_badges,
            cursor,
            previous,
        })
    }

    async fn insert_package(
        &self,
        full: &NewPackage,
        delta: Option<&NewPackage>,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let event_id = full.manifest.event_id;
        let mut tx = self.begin().await?;
        for package in std::iter::once(full).chain(delta) {
            let manifest = serde_json::to_value(&package.signed)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let base_version = package
                .manifest
                .base_version
                .map(|b| to_i64(b, "base version"))
                .transpose()?;
            let inserted = sqlx::query(
                "insert into packages (event_id, version, base_version, manifest, body, body_gzip,
                                       body_sha256, body_len, ticket_count)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 on conflict do nothing",
            )
            .bind(event_id.as_uuid())
            .bind(to_i64(package.manifest.version, "version")?)
            .bind(base_version)
            .bind(manifest)
            .bind(&package.body)
            .bind(&package.body_gzip)
            .bind(&package.manifest.body_sha256)
            .bind(to_i64(package.manifest.body_len, "body length")?)
            .bind(to_i64(package.manifest.ticket_count, "ticket count")?)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "package version {} of this event was published by someone else meanwhile; publish again",
                    package.manifest.version
                )));
            }
        }
        // Live kiosks hear of the new version at commit; nothing is added to the feed.
        sqlx::query("select pg_notify($1, $2)")
            .bind(FEED_CHANNEL)
            .bind(event_id.to_string())
            .execute(&mut *tx)
            .await?;
        super::staff::write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_packages(&self, event_id: EventId) -> Result<Vec<PackageSummary>, StoreError> {
        let mut tx = self.begin().await?;
        let exists: bool = sqlx::query_scalar("select exists (select 1 from events where id = $1)")
            .bind(event_id.as_uuid())
            .fetch_one(&mut *tx)
            .await?;
        if !exists {
            return Err(StoreError::NotFound("event"));
        }
        let rows = sqlx::query(
            "select version, base_version, body_len, coalesce(octet_length(body_gzip), 0)::bigint
                    as body_gzip_len, body_sha256, ticket_count,
                    (extract(epoch from created_at) * 1000)::bigint as created_ms
             from packages where event_id = $1
             order by version desc, base_version desc nulls first",
        )
        .bind(event_id.as_uuid())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(PackageSummary {
                    version: version_of(row.try_get("version")?),
                    base_version: row
                        .try_get::<Option<i64>, _>("base_version")?
                        .map(version_of),
                    body_len: version_of(row.try_get("body_len")?),
                    body_gzip_len: version_of(row.try_get("body_gzip_len")?),
                    body_sha256: row.try_get("body_sha256")?,
                    ticket_count: version_of(row.try_get("ticket_count")?),
                    created_at: UnixMillis(version_of(row.try_get("created_ms")?)),
                })
            })
            .collect()
    }

    async fn latest_manifest(
        &self,
        event_id: EventId,
        held: Option<u64>,
    ) -> Result<Option<StoredManifest>, StoreError> {
        let held = held.map(|h| to_i64(h, "held version")).transpose()?;
        // The latest version; its delta when the kiosk holds the delta's base, else its full body.
        let row = sqlx::query(
            "select version, base_version, manifest from packages
             where event_id = $1
               and version = (select max(version) from packages where event_id = $1)
               and (base_version is null or base_version = $2)
             order by base_version nulls last
             limit 1",
        )
        .bind(event_id.as_uuid())
        .bind(held)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let manifest: serde_json::Value = row.try_get("manifest")?;
            Ok(StoredManifest {
                version: version_of(row.try_get("version")?),
                base_version: row
                    .try_get::<Option<i64>, _>("base_version")?
                    .map(version_of),
                signed: serde_json::from_value::<Signed<PackageManifest>>(manifest)
                    .map_err(|e| StoreError::Corrupt(format!("package manifest: {e}")))?,
            })
        })
        .transpose()
    }

    async fn package_body_info(
        &self,
        event_id: EventId,
        version: u64,
        base: Option<u64>,
    ) -> Result<Option<PackageBodyInfo>, StoreError> {
        let row = sqlx::query(
            "select version, base_version, body_sha256, body_len,
                    coalesce(octet_length(body_gzip), 0)::bigint as body_gzip_len
             from packages
             where event_id = $1 and version = $2 and (base_version is null or base_version = $3)
             order by base_version nulls last
             limit 1",
        )
        .bind(event_id.as_uuid())
        .bind(to_i64(version, "version")?)
        .bind(base.map(|b| to_i64(b, "base version")).transpose()?)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(PackageBodyInfo {
                version: version_of(row.try_get("version")?),
                base_version: row
                    .try_get::<Option<i64>, _>("base_version")?
                    .map(version_of),
                body_sha256: row.try_get("body_sha256")?,
                body_len: version_of(row.try_get("body_len")?),
                body_gzip_len: version_of(row.try_get("body_gzip_len")?),
            })
        })
        .transpose()
    }

    async fn package_body_chunk(
        &self,
        event_id: EventId,
        version: u64,
        base_version: Option<u64>,
        gzip: bool,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StoreError> {
        // substring() counts from 1.
        let sql = if gzip {
            "select substring(body_gzip from $4 for $5) from packages
             where event_id = $1 and version = $2 and base_version is not distinct from $3"
        } else {
            "select substring(body from $4 for $5) from packages
             where event_id = $1 and version = $2 and base_version is not distinct from $3"
        };
        let chunk: Option<Option<Vec<u8>>> = sqlx::query_scalar(sql)
            .bind(event_id.as_uuid())
            .bind(to_i64(version, "version")?)
            .bind(
                base_version
                    .map(|b| to_i64(b, "base version"))
                    .transpose()?,
            )
            .bind(to_i32(offset.saturating_add(1), "offset")?)
            .bind(to_i32(len, "length")?)
            .fetch_optional(&self.pool)
            .await?;
        chunk.flatten().ok_or(StoreError::NotFound("package body"))
    }

    async fn package_file(
        &self,
        event_id: EventId,
        version: Option<u64>,
    ) -> Result<Option<PackageFile>, StoreError> {
        let row = sqlx::query(
            "select manifest, body from packages
             where event_id = $1 and base_version is null and ($2::bigint is null or version = $2)
             order by version desc limit 1",
        )
        .bind(event_id.as_uuid())
        .bind(version.map(|v| to_i64(v, "version")).transpose()?)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let manifest: serde_json::Value = row.try_get("manifest")?;
            Ok(PackageFile {
                manifest: serde_json::from_value(manifest)
                    .map_err(|e| StoreError::Corrupt(format!("package manifest: {e}")))?,
                body: row.try_get("body")?,
            })
        })
        .transpose()
    }
}

/// A stored form definition; its id and version come from the row's key.
fn form_from_row(row: &PgRow) -> Result<Form, StoreError> {
    let id: Uuid = row.try_get("id")?;
    let version: i32 = row.try_get("version")?;
    let mut definition: serde_json::Value = row.try_get("definition")?;
    let object = definition
        .as_object_mut()
        .ok_or_else(|| StoreError::Corrupt(format!("form {id} definition is not an object")))?;
    object.insert("id".into(), serde_json::Value::String(id.to_string()));
    object.insert("version".into(), serde_json::Value::from(version));
    serde_json::from_value(definition)
        .map_err(|e| StoreError::Corrupt(format!("form {id} version {version}: {e}")))
}
