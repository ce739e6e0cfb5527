//! The pure protocol shared by the kiosk and the sync server.
//!
//! What lives here: ids, the hybrid logical clock, the records of an event package, the changes a
//! kiosk makes and their wire messages, the signed ticket-code format, crypto envelopes, and the
//! verdict and merge rules as pure functions. What does not: any I/O, clock read, thread, database
//! or network code. Time and randomness are passed in, so everything here is deterministic and
//! tested without mocks.

pub mod certificate;
pub mod changes;
pub mod crypto;
pub mod forms;
pub mod hlc;
pub mod ids;
pub mod kit;
pub mod merge;
pub mod model;
#[cfg(feature = "openapi")]
mod openapi;
pub mod package;
pub mod ticket_code;
pub mod time;
pub mod verdict;
pub mod wire;

pub use hlc::{Hlc, HlcClock};
pub use time::UnixMillis;
