//! The sync server: enrols kiosks, takes their pushes, serves pulls and live updates, and (as it
//! grows) builds signed event packages, records conflicts and serves admins.
//!
//! Layout: [`config`] (file + environment), [`store`] (the one storage trait and its Postgres
//! implementation), [`api`] (routes, extractors, layers), [`auth`] (tokens), [`live`]
//! (LISTEN/NOTIFY fan-out), [`keys`] (the package signing key on disk), [`error`] (the
//! `{code, message}` error type and the guard that makes every error answer one), [`filer`] (files
//! what pushes mean after they commit), [`client`] (the
//! client address behind trusted proxies, for limits and the audit log). [`serve`] runs the app on a pre-bound listener until a shutdown
//! future resolves, so tests bind port 0 and never sleep.

pub mod api;
pub mod auth;
pub mod catalogue;
pub mod cli;
pub mod client;
pub mod config;
pub mod error;
pub mod filer;
pub mod import;
pub mod ingest;
pub mod keys;
pub mod live;
pub mod metrics;
pub mod packages;
pub mod pushes;
pub mod staff;
pub mod state;
pub mod store;

use std::future::Future;

use tokio::net::TcpListener;

use crate::api::HttpLimits;
use crate::live::LiveHub;
use crate::state::AppState;
use crate::store::pg::PgStore;

/// Runs the server on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    listener: TcpListener,
    store: PgStore,
    signing_key: sync_protocol::crypto::SecretKey,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_rx_filer = stop_rx.clone();
    let (live, live_tasks) = LiveHub::new(stop_rx);
    let listener_task = tokio::spawn(live_tasks.run(store.pool().clone()));
    let state = AppState::new(store.clone(), signing_key, live)
        .with_concurrent_pulls(limits.concurrent_pulls);
    let filer_task = tokio::spawn(filer::run(
        store,
        state.filer.clone(),
        state.pushes.clone(),
        stop_rx_filer,
    ));
    let app = api::router(state, limits);
    // Tell live streams to end first, so the graceful shutdown does not wait for them.
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .await;
    let _ = listener_task.await;
    let _ = filer_task.await;
    result
}
