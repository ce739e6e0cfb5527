//! Identifiers: one newtype per kind of record, each a UUIDv7.
//!
//! Ids are made by whoever creates the record (a kiosk offline, or the server), so they must be
//! globally unique without coordination and sortable by creation time: UUIDv7 gives both. The
//! crate reads no clock and no entropy source itself, so `new` takes the wall time and random bytes
//! from the caller. Parsing accepts only version-7 UUIDs: a record id from anywhere else is refused
//! at the edge ("parse, don't validate").

use std::fmt;
use std::str::FromStr;

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::time::UnixMillis;

/// Why a string or byte slice is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not a UUID at all.
    #[error("not a valid id: {0}")]
    Malformed(String),
    /// A UUID, but not version 7.
    #[error("id {0} is not a UUIDv7")]
    NotV7(Uuid),
}

/// Parses a UUIDv7 from its textual form.
fn parse_v7(s: &str) -> Result<Uuid, IdError> {
    let uuid = Uuid::parse_str(s).map_err(|_| IdError::Malformed(truncate(s)))?;
    check_v7(uuid)
}

fn check_v7(uuid: Uuid) -> Result<Uuid, IdError> {
    if uuid.get_version_num() == 7 {
        Ok(uuid)
    } else {
        Err(IdError::NotV7(uuid))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Makes a UUIDv7 from a wall time and the caller's randomness.
fn new_v7(now: UnixMillis, rng: &mut (impl RngCore + CryptoRng)) -> Uuid {
    let mut random = [0u8; 10];
    rng.fill_bytes(&mut random);
    uuid::Builder::from_unix_timestamp_millis(now.as_u64(), &random).into_uuid()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub struct $name(#[cfg_attr(feature = "ts", ts(type = "string"))] Uuid);

        impl $name {
            /// A fresh id created at `now` with the caller's randomness.
            pub fn new(now: UnixMillis, rng: &mut (impl RngCore + CryptoRng)) -> Self {
                Self(new_v7(now, rng))
            }

            /// Accepts an existing UUID if it is version 7.
            pub fn from_uuid(uuid: Uuid) -> Result<Self, IdError> {
                check_v7(uuid).map(Self)
            }

            /// Accepts the 16 raw bytes of a UUIDv7 (as carried in ticket codes).
            pub fn from_bytes(bytes: [u8; 16]) -> Result<Self, IdError> {
                Self::from_uuid(Uuid::from_bytes(bytes))
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The 16 raw bytes.
            pub fn to_bytes(&self) -> [u8; 16] {
                *self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                parse_v7(s).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0.hyphenated())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An event (a conference day, a festival): everything a kiosk holds belongs to one.
    EventId
);
id_type!(
    /// A ticket: what a badge's QR code stands for.
    TicketId
);
id_type!(
    /// A ticket type (day pass, VIP, staff), with its validity window.
    TicketTypeId
);
id_type!(
    /// A person attending, with name, email and form answers.
    AttendeeId
);
id_type!(
    /// A gate: a check-in list with its rules (which ticket types, entry/exit, re-entry).
    GateId
);
id_type!(
    /// An enrolled kiosk.
    DeviceId
);
id_type!(
    /// One check-in (or failed scan): also its nonce, so a replay is recognised.
    CheckInId
);
id_type!(
    /// One change in a device's outbox.
    ChangeId
);
id_type!(
    /// A registration form definition.
    FormId
);
id_type!(
    /// A recorded conflict.
    ConflictId
);

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn new_ids_are_v7_and_sort_by_time() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let a = TicketId::new(UnixMillis(1_700_000_000_000), &mut rng);
        let b = TicketId::new(UnixMillis(1_700_000_000_001), &mut rng);
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn parse_round_trips() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let id = GateId::new(UnixMillis(1_700_000_000_000), &mut rng);
        let parsed: GateId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<GateId>(&json).unwrap(), id);
    }

    #[test]
    fn parse_refuses_garbage_and_other_versions() {
        assert!(matches!(
            "nope".parse::<EventId>(),
            Err(IdError::Malformed(_))
        ));
        let v4 = "b0f4c0d6-8a5e-4c3e-9d1f-2a6b7c8d9e0f";
        assert!(matches!(v4.parse::<EventId>(), Err(IdError::NotV7(_))));
        assert!(serde_json::from_str::<EventId>("\"x\"").is_err());
        assert!(serde_json::from_str::<EventId>("42").is_err());
    }
}
