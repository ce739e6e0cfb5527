//! The app layer's errors, and the structured form the front end receives:
//! `{kind, message, field, fields}` where `kind` is a stable code the UI can switch on.

use serde::Serialize;
use sync_protocol::forms::FieldError;

use crate::enrol::EnrolError;
use crate::gate::GateError;
use crate::store::StoreError;
use crate::sync::SyncError;
use crate::walkin::WalkInError;

/// Everything a screen's action can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("wrong PIN")]
    WrongPin,
    #[error("the PIN must be {min} to 64 characters")]
    BadPin { min: usize },
    #[error("too many wrong PINs: try again in {wait_secs} s")]
    TooManyAttempts { wait_secs: u64 },
    #[error("the kiosk is locked: enter the PIN")]
    Locked,
    #[error("this kiosk is set up already")]
    AlreadySetUp,
    #[error("this kiosk is not set up yet")]
    NotSetUp,
    #[error("this kiosk is not enrolled with a server yet")]
    NotEnrolled,
    #[error("this kiosk holds no event package yet")]
    NoPackage,
    #[error("pick a gate first")]
    NoGate,
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("some answers need attention")]
    Fields(Vec<FieldError>),
    #[error("the package was refused: {0}")]
    PackageRefused(String),
    #[error("the server cannot be reached: {0}")]
    Offline(String),
    #[error("the server is busy: {0}; try again in a moment")]
    Busy(String),
    #[error("this kiosk was revoked by the organisers: enrol it again")]
    Revoked,
    #[error("the server refused: {0}")]
    Server(String),
    #[error("camera: {0}")]
    Camera(String),
    /// A badge could not be handed to the printer (the shell prints): the printer and why.
    #[error("{0}")]
    Printer(String),
    #[error("the kiosk's data: {0}")]
    Store(String),
    #[error("{0}")]
    Internal(String),
}

/// The stable codes of [`AppError`], for the front end to switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    WrongPin,
    BadPin,
    TooManyAttempts,
    Locked,
    AlreadySetUp,
    NotSetUp,
    NotEnrolled,
    NoPackage,
    NoGate,
    Invalid,
    Fields,
    PackageRefused,
    Offline,
    Busy,
    Revoked,
    Server,
    Camera,
    Printer,
    Store,
    Internal,
}

/// An error as the front end receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UiError {
    pub kind: ErrorKind,
    /// A sentence for the person at the kiosk, in English (the UI may show its own per kind).
    pub message: String,
    /// The input the error is about, when it is about one.
    pub field: Option<String>,
    /// For `fields`: one problem per form field.
    pub fields: Vec<FieldError>,
}

impl AppError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AppError::WrongPin => ErrorKind::WrongPin,
            AppError::BadPin { .. } => ErrorKind::BadPin,
            AppError::TooManyAttempts { .. } => ErrorKind::TooManyAttempts,
            AppError::Locked => ErrorKind::Locked,
            AppError::AlreadySetUp => ErrorKind::AlreadySetUp,
            AppError::NotSetUp => ErrorKind::NotSetUp,
            AppError::NotEnrolled => ErrorKind::NotEnrolled,
            AppError::NoPackage => ErrorKind::NoPackage,
            AppError::NoGate => ErrorKind::NoGate,
            AppError::Invalid { .. } => ErrorKind::Invalid,
            AppError::Fields(_) => ErrorKind::Fields,
            AppError::PackageRefused(_) => ErrorKind::PackageRefused,
            AppError::Offline(_) => ErrorKind::Offline,
            AppError::Busy(_) => ErrorKind::Busy,
            AppError::Revoked => ErrorKind::Revoked,
            AppError::Server(_) => ErrorKind::Server,
            AppError::Camera(_) => ErrorKind::Camera,
            AppError::Printer(_) => ErrorKind::Printer,
            AppError::Store(_) => ErrorKind::Store,
            AppError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// An error about one input field.
    pub fn invalid(field: &str, message: impl Into<String>) -> AppError {
        AppError::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The structured form for the front end.
    pub fn to_ui(&self) -> UiError {
        UiError {
            kind: self.kind(),
            message: self.to_string(),
            field: match self {
                AppError::Invalid { field, .. } => field.clone(),
                AppError::WrongPin | AppError::BadPin { .. } | AppError::TooManyAttempts { .. } => {
                    Some("pin".to_owned())
                }
                _ => None,
            },
            fields: match self {
                AppError::Fields(fields) => fields.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_ui().serialize(serializer)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::from_store(&e)
    }
}

impl AppError {
    /// The app's form of a store failure.
    pub fn from_store(e: &StoreError) -> AppError {
        match e {
            StoreError::WrongPin => AppError::WrongPin,
            StoreError::BadPin { min } => AppError::BadPin { min: *min },
            StoreError::TooManyAttempts { wait_secs } => AppError::TooManyAttempts {
                wait_secs: *wait_secs,
            },
            StoreError::NotSetUp(_) => AppError::NotSetUp,
            StoreError::AlreadySetUp(_) => AppError::AlreadySetUp,
            StoreError::Package(p) => AppError::PackageRefused(p.to_string()),
            other => AppError::Store(other.to_string()),
        }
    }

    /// The app's form of a sync failure (also for one the app does not own: the background
    /// sync reports by reference).
    pub fn from_sync(e: &SyncError) -> AppError {
        match e {
            SyncError::Offline(m) => AppError::Offline(m.clone()),
            SyncError::Busy(m) => AppError::Busy(m.clone()),
            SyncError::Revoked => AppError::Revoked,
            SyncError::NotEnrolled => AppError::NotEnrolled,
            SyncError::Store(s) => AppError::from_store(s),
            other => AppError::Server(other.to_string()),
        }
    }
}

impl From<GateError> for AppError {
    fn from(e: GateError) -> Self {
        match e {
            GateError::Store(s) => s.into(),
            GateError::NotEnrolled => AppError::NotEnrolled,
            GateError::Answers(fields) => AppError::Fields(fields),
            other => AppError::Invalid {
                field: None,
                message: other.to_string(),
            },
        }
    }
}

impl From<WalkInError> for AppError {
    fn from(e: WalkInError) -> Self {
        match e {
            WalkInError::Fields(fields) => AppError::Fields(fields),
            WalkInError::NotReady => AppError::NoPackage,
            WalkInError::Store(s) => s.into(),
            WalkInError::UnknownTicketType(_) | WalkInError::NoTicketType => {
                AppError::invalid("ticket_type_id", e.to_string())
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<SyncError> for AppError {
    fn from(e: SyncError) -> Self {
        AppError::from_sync(&e)
    }
}

impl From<EnrolError> for AppError {
    fn from(e: EnrolError) -> Self {
        match e {
            EnrolError::Unreachable { .. } => AppError::Offline(e.to_string()),
            EnrolError::Store(s) => s.into(),
            EnrolError::Kit(sync_protocol::kit::KitError::WrongCode) => {
                AppError::invalid("kit_code", "wrong kit code")
            }
            EnrolError::Kit(sync_protocol::kit::KitError::Package(p)) => {
                AppError::PackageRefused(p.to_string())
            }
            EnrolError::Kit(other) => AppError::invalid("kit", other.to_string()),
            EnrolError::AlreadyEnrolled(_) => AppError::Invalid {
                field: None,
                message: e.to_string(),
            },
            other => AppError::Server(other.to_string()),
        }
    }
}
