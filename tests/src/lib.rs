//! Harness of the system tests: a fresh Postgres database, the real `sync-server` binary as a
//! child process (so tests can kill it), and kiosks speaking the protocol over HTTP.
//!
//! The server binary is looked up next to the test executable's `deps/` folder (cargo builds it
//! for the workspace's tests) or at `SYNC_SERVER_BIN`.

pub mod convergence;
pub mod db;
pub mod faultnet;
pub mod kiosk;
pub mod proxy;
pub mod seed;
pub mod server;
