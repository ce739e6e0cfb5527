//! OpenAPI schemas (utoipa, feature `openapi`) of the types with a text form of their own: ids,
//! cursors, keys, signed envelopes ([`crate::crypto::Signed`]), badge certificates and Unix
//! milliseconds. Every other wire type
//! derives its schema next to its serde derive, so the schema follows the serde attributes.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::certificate::BadgeCertificate;
use crate::crypto::{KeyId, PublicKey};
use crate::ids::{
    AttendeeId, ChangeId, CheckInId, ConflictId, DeviceId, EventId, FormId, GateId, TicketId,
    TicketTypeId,
};
use crate::time::UnixMillis;
use crate::wire::Cursor;

fn text(description: &str, format: Option<KnownFormat>, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(format.map(SchemaFormat::KnownFormat))
        .description(Some(description))
        .examples([example])
        .into()
}

/// A schema named `$name` for a type serialized as text.
macro_rules! text_schema {
    ($ty:ty, $name:expr, $description:expr, $format:expr, $example:literal) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                text($description, $format, $example)
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

/// Ids are UUIDv7 in hyphenated text.
macro_rules! id_schema {
    ($($ty:ident),* $(,)?) => {
        $(text_schema!(
            $ty,
            stringify!($ty),
            concat!("A UUIDv7 (", stringify!($ty), ")."),
            Some(KnownFormat::Uuid),
            "01936f4e-8c2a-7b3d-9e4f-0a1b2c3d4e5f"
        );)*
    };
}

id_schema!(
    EventId,
    TicketId,
    TicketTypeId,
    AttendeeId,
    GateId,
    DeviceId,
    CheckInId,
    ChangeId,
    FormId,
    ConflictId,
);

text_schema!(
    Cursor,
    "Cursor",
    "A position in an event's change feed, `<tx>-<pos>`: opaque to kiosks, sent back as given.",
    None,
    "7341-12"
);
text_schema!(
    PublicKey,
    "PublicKey",
    "An Ed25519 public key: its 32 bytes in base64url without padding.",
    None,
    "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
);
text_schema!(
    KeyId,
    "KeyId",
    "A key's fingerprint: the first 8 bytes of its SHA-256 in hex.",
    None,
    "3f9a0c12de45b678"
);

impl PartialSchema for UnixMillis {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .description(Some("Unix time in milliseconds."))
            .into()
    }
}

impl ToSchema for UnixMillis {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("UnixMillis")
    }
}

impl PartialSchema for BadgeCertificate {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "The server's compact statement of a kiosk's badge-signing key, carried by every \
                 walk-in badge the kiosk issues.",
            ))
            .property("device_id", DeviceId::schema())
            .required("device_id")
            .property(
                "certificate",
                text("The certificate's bytes in base64url.", None, "AZNvTowq..."),
            )
            .required("certificate")
            .into()
    }
}

impl ToSchema for BadgeCertificate {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("BadgeCertificate")
    }
}

/// The schema of every [`Signed`] value (a field names it with `value_type = SignedValue`): what
/// is signed is in `payload` (see docs/protocol.md).
pub(crate) struct SignedValue;

impl PartialSchema for SignedValue {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "A value signed as JSON by one Ed25519 key: `payload` is the base64url of the \
                 signed JSON bytes, `signature` the base64url of the signature over them.",
            ))
            .property("key_id", KeyId::schema())
            .required("key_id")
            .property(
                "payload",
                text(
                    "base64url of the signed JSON bytes.",
                    None,
                    "eyJ2ZXJzaW9uIjoxfQ",
                ),
            )
            .required("payload")
            .property(
                "signature",
                text(
                    "base64url of the 64-byte Ed25519 signature.",
                    None,
                    "x4Jb...",
                ),
            )
            .required("signature")
            .into()
    }
}

impl ToSchema for SignedValue {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Signed")
    }
}
