//! The front end's TypeScript types, generated from the Rust types with ts-rs into one file,
//! `ui/src/bindings.ts`. A test fails when the file is stale; regenerate it with
//! `UPDATE_BINDINGS=1 cargo test -p kiosk-core --features ts bindings`.

use ts_rs::{Config, TS};

/// The generated file, relative to the workspace root.
pub const BINDINGS_FILE: &str = "ui/src/bindings.ts";

macro_rules! declarations {
    ($cfg:expr; $($ty:ty),* $(,)?) => {
        vec![$(format!("export {}", <$ty as TS>::decl($cfg))),*]
    };
}

/// The whole bindings file.
pub fn typescript() -> String {
    use sync_protocol::{forms, ids, model, verdict};
    // u64 counts and milliseconds fit a JavaScript number (below 2^53).
    let cfg = &Config::new().with_large_int("number");
    let declarations = declarations![cfg;
        serde_json::Value,
        // ids and time
        ids::EventId, ids::TicketId, ids::TicketTypeId, ids::AttendeeId, ids::GateId,
        ids::DeviceId, ids::CheckInId, ids::FormId, sync_protocol::UnixMillis,
        // the event
        model::TicketType, model::Gate, model::GateMode, model::Reentry, model::BadgePrinting,
        model::Direction,
        model::TicketStatus,
        // verdicts
        verdict::Verdict, verdict::VerdictCode, verdict::Admission,
        // forms
        forms::Form, forms::Page, forms::Section, forms::Field, forms::FieldKind,
        forms::Validation, forms::Bound, forms::Choice, forms::Condition, forms::Operator,
        forms::FieldError, forms::FieldErrorCode,
        // app views
        super::Phase, super::AppState, super::EventView, super::DeviceView, super::Settings,
        super::ScanSource, super::ScanOutcome, super::ShownAnswer, super::GuestHit, super::GuestSearchView,
        super::WalkInSetup, super::BadgeView,
        super::PackageApplied, super::OutboxView, super::ParkedChange, super::ConflictsView,
        super::ConflictView, super::ConflictSubject, super::CameraInfo,
        super::PreviewFrame, super::Point, super::CameraStatus,
        crate::store::GateCounts, crate::walkin::WalkInRequest,
        crate::sync::SyncProgress, crate::sync::SyncReport, crate::background::SyncStatus,
        crate::events::KioskEvent,
        // errors
        super::ErrorKind, super::UiError,
    ];
    let mut out = String::from(
        "// Generated from the Rust types by kiosk-core (app::bindings). Do not edit by hand:\n\
         // UPDATE_BINDINGS=1 cargo test -p kiosk-core --features ts bindings\n\
         /* eslint-disable */\n\n",
    );
    for declaration in declarations {
        out.push_str(&declaration);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn bindings_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(super::BINDINGS_FILE)
    }

    #[test]
    fn bindings_are_current() {
        let generated = super::typescript();
        let path = bindings_path();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &generated).expect("write the bindings");
            return;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "{} is stale: run UPDATE_BINDINGS=1 cargo test -p kiosk-core --features ts bindings",
            path.display()
        );
    }

    #[test]
    fn large_integers_are_numbers() {
        let generated = super::typescript();
        assert!(!generated.contains("bigint"), "{generated}");
        assert!(generated.contains("export type ScanOutcome"));
    }
}
