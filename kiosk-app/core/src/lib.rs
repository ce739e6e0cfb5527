//! The kiosk engine: everything a gate or registration-desk kiosk does, as a library that builds
//! and tests without Tauri.
//!
//! What lives here as it grows (see docs/architecture.md): the encrypted SQLite store, package
//! import, frame sources and decoders, the scan-to-verdict path, walk-in registration, the outbox
//! and the sync client.
//!
//! - [`app`]: the kiosk as its screens use it (the Tauri shell forwards to it).
//! - [`store`]: the encrypted SQLite store (PIN, packages, tickets, check-ins, outbox).
//! - [`enrol`]: trading a one-time token for the kiosk's identity.
//! - [`gate`]: the scan-to-verdict path.
//! - [`sync`]: the push-then-pull sync client.
//! - [`background`]: the background sync loop (timed, on local change, on the live stream).
//! - [`events`]: the event stream a screen subscribes to (verdicts, sync, packages, errors).
//! - [`headless`]: `kiosk run`, the kiosk for a whole day without a window.
//! - [`walkin`] and [`badge`]: registering walk-ins and drawing their badges.
//! - [`inspect`]: reading a code or a package file without a store.
//! - [`scan`]: frame sources, QR decoders and their ladder, debounce, the keyboard wedge.
//! - [`search`]: finding a guest by name, email or part of the code (an index in memory).

pub mod app;
pub mod background;
pub mod badge;
pub mod enrol;
pub mod events;
pub mod gate;
pub mod headless;
pub mod inspect;
pub mod scan;
pub mod search;
pub mod store;
pub mod sync;
pub mod walkin;
