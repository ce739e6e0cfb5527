//! `POST /api/v1/push` and `GET /api/v1/pull`: the heart of the protocol.
//!
//! Push checks each change (right device, known kind and schema, payload that parses), merges its
//! stamp into the server clock (flagging a kiosk clock far ahead), and stores the batch exactly
//! once per (device, seq). Nothing a kiosk pushed is lost: a change that can never be accepted is
//! parked as a rejection and acknowledged, so it never blocks the queue.

use axum::extract::State;
use sha2::{Digest, Sha256};
use sync_protocol::changes::{Change, ChangeError};
use sync_protocol::wire::{
    ChangeResult, ChangeStatus, MAX_PULL_PAGE, MAX_PUSH_BATCH, PullPage, PullQuery, PushRequest,
    PushResponse, RejectCode,
};

use crate::auth::Device;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::pushes::PULL_YIELDS_AT_MOST;
use crate::state::AppState;
use crate::store::{DeviceAuth, PreparedChange, Store, Stored};

/// Default page size of a pull.
const DEFAULT_PULL_PAGE: u32 = 500;

#[utoipa::path(
    post,
    path = "/api/v1/push",
    tag = "kiosk",
    summary = "Pushes a batch of outbox changes; each is stored exactly once per (device, seq).",
    request_body = PushRequest,
    responses(
        (status = 200, description = "What the server did with each change.", body = PushResponse)
    ),
    security(("device_token" = []))
)]
pub async fn push<S: Store>(
    State(state): State<AppState<S>>,
    Device(device): Device,
    ApiJson(request): ApiJson<PushRequest>,
) -> Result<ApiJson<PushResponse>, ApiError> {
    if request.changes.len() > MAX_PUSH_BATCH {
        return Err(ApiError::Validation(format!(
            "a push carries at most {MAX_PUSH_BATCH} changes, this one has {}",
            request.changes.len()
        )));
    }
    if let Some(bad) = request
        .changes
        .iter()
        .find(|c| c.seq == 0 || c.seq > i64::MAX as u64)
    {
        return Err(ApiError::Validation(format!(
            "seq {} is out of range (1 to 2^63-1)",
            bad.seq
        )));
    }
    let _in_flight = state.pushes.start();
    let prepared: Vec<PreparedChange> = request
        .changes
        .into_iter()
        .map(|change| prepare(&state, device, change))
        .collect();
    let outcome = state.store.push(device, &prepared).await?;
    if outcome.fed {
        state.filer.ring();
        state.live.feed_grew(device.event_id);
    }
    let results: Vec<ChangeResult> = prepared
        .iter()
        .zip(outcome.stored)
        .map(|(p, stored)| ChangeResult {
            seq: p.change.seq,
            status: match stored {
                Stored::New => match &p.rejection {
                    None => ChangeStatus::Accepted,
                    Some((code, message)) => ChangeStatus::Rejected {
                        code: *code,
                        message: message.clone(),
                    },
                },
                Stored::Duplicate(None) => ChangeStatus::Duplicate,
                Stored::Duplicate(Some((code, message))) => {
                    ChangeStatus::Rejected { code, message }
                }
                Stored::SeqReused => {
                    tracing::warn!(device = %device.device_id, seq = p.change.seq,
                        "seq reused with another payload: restored or cloned kiosk?");
                    ChangeStatus::Rejected {
                        code: RejectCode::SeqReused,
                        message: format!(
                            "seq {} of this device was stored before with another payload; \
                             this kiosk's log was restored or copied: enrol it again",
                            p.change.seq
                        ),
                    }
                }
            },
            clock_ahead_ms: p.clock_ahead_ms,
        })
        .collect();
    let count =
        |f: fn(&ChangeStatus) -> bool| results.iter().filter(|r| f(&r.status)).count() as u64;
    crate::metrics::record_push(
        count(|s| matches!(s, ChangeStatus::Accepted)),
        count(|s| matches!(s, ChangeStatus::Duplicate)),
        count(|s| matches!(s, ChangeStatus::Rejected { .. })),
    );
    Ok(ApiJson(PushResponse {
        results,
        acknowledged_seq: outcome.acknowledged_seq,
        server_hlc: state.tick(),
    }))
}

/// Checks one change and decides whether it is accepted or parked.
fn prepare<S>(state: &AppState<S>, device: DeviceAuth, mut change: Change) -> PreparedChange {
    let bytes = serde_json::to_vec(&change).expect("changes serialize");
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    // Postgres cannot store NUL: such a change is kept with U+FFFD instead, never refused whole
    // (a 500 here would fail every retry of the kiosk's push). JSON always writes a NUL as
    // \u0000, so the change is walked only when its bytes hold that.
    if bytes.windows(6).any(|w| w == b"\\u0000") && change.replace_nul() {
        tracing::warn!(device = %change.device_id, seq = change.seq, "a NUL in a pushed change was replaced");
    }
    let receipt = state.receive(change.hlc);
    let parsed = if change.device_id != device.device_id {
        Err((
            RejectCode::WrongDevice,
            format!(
                "change claims device {}, but the token is device {}",
                change.device_id, device.device_id
            ),
        ))
    } else {
        change.body().map_err(|err| {
            let code = match err {
                ChangeError::UnknownKind(_) => RejectCode::UnknownKind,
                ChangeError::UnsupportedSchema { .. } => RejectCode::UnsupportedSchema,
                ChangeError::InvalidPayload { .. } | ChangeError::EntityMismatch { .. } => {
                    RejectCode::InvalidPayload
                }
            };
            (code, err.to_string())
        })
    };
    let (body, rejection) = match parsed {
        Ok(body) => (Some(body), None),
        Err(rejection) => (None, Some(rejection)),
    };
    PreparedChange {
        change,
        digest,
        rejection,
        body,
        clock_ahead_ms: receipt.ahead_by_ms,
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/pull",
    tag = "kiosk",
    summary = "A page of the event's change feed after a cursor.",
    params(PullQuery),
    responses(
        (status = 200, description = "A page of the feed.", body = PullPage)
    ),
    security(("device_token" = []))
)]
pub async fn pull<S: Store>(
    State(state): State<AppState<S>>,
    Device(device): Device,
    ApiQuery(query): ApiQuery<PullQuery>,
) -> Result<ApiJson<PullPageOut>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PULL_PAGE);
    if limit == 0 || limit > MAX_PULL_PAGE {
        return Err(ApiError::Validation(format!(
            "limit must be 1 to {MAX_PULL_PAGE}"
        )));
    }
    // Pushes first, then waits its turn (bounded by the request timeout); the semaphore is
    // never closed.
    state.pushes.quiet(PULL_YIELDS_AT_MOST).await;
    let _turn = state.pulls.acquire().await.map_err(|_| {
        ApiError::Unavailable(crate::store::StoreError::Unavailable(
            sqlx::Error::PoolClosed,
        ))
    })?;
    let page = state.store.pull(device, query.after, limit).await?;
    Ok(ApiJson(PullPageOut {
        items: page.items,
        next_cursor: page.next_cursor,
        has_more: page.has_more,
        pending: page.pending,
        write_checkpoint: page.write_checkpoint,
        package_version: page.package_version,
        refetch: page.refetch,
        server_hlc: state.tick(),
    }))
}

/// A [`PullPage`](sync_protocol::wire::PullPage) whose items the store encoded already: the same JSON, field for field.
#[derive(Debug, serde::Serialize)]
pub struct PullPageOut {
    items: Vec<Box<serde_json::value::RawValue>>,
    next_cursor: sync_protocol::wire::Cursor,
    has_more: bool,
    pending: bool,
    write_checkpoint: u64,
    package_version: u64,
    refetch: bool,
    server_hlc: sync_protocol::hlc::Hlc,
}
