//! `sync-server admin event|ticket-type|gate|form|ticket|enrol|device ...`: the catalogue on the
//! command line. Each command calls the same operation as the HTTP API ([`crate::catalogue`]) and
//! writes the same audit entry, with the operating-system user as the actor.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;
use sync_protocol::UnixMillis;
use sync_protocol::hlc::{DEFAULT_MAX_DRIFT_MS, HlcClock};
use sync_protocol::ids::{DeviceId, EventId, GateId, TicketId, TicketTypeId};
use sync_protocol::model::{BadgePrinting, GateMode, Reentry};

use super::{CliError, Output, audit};
use crate::catalogue::{
    self, CatalogueError, EventPatch, GatePatch, NewEnrolmentToken, NewEvent, NewGate,
    NewTicketType, ProblemsBody, TicketAction, TicketTypePatch,
};
use crate::error::ApiError;
use crate::store::pg::PgStore;
use crate::store::{CatalogueStore, SyncStore, Who};

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Create an event. Times: Unix milliseconds or RFC 3339 (2026-06-01T09:00:00+02:00).
    Create {
        #[arg(long)]
        name: String,
        /// IANA time zone, e.g. Europe/Berlin.
        #[arg(long)]
        time_zone: String,
        #[arg(long, value_parser = parse_time)]
        starts_at: UnixMillis,
        #[arg(long, value_parser = parse_time)]
        ends_at: UnixMillis,
    },
    /// List events.
    List,
    /// Change an event; options not given stay.
    Update {
        id: EventId,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        time_zone: Option<String>,
        #[arg(long, value_parser = parse_time)]
        starts_at: Option<UnixMillis>,
        #[arg(long, value_parser = parse_time)]
        ends_at: Option<UnixMillis>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketTypeCommand {
    /// Create a ticket type with an optional validity window.
    Create {
        #[arg(long)]
        event: EventId,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_time)]
        valid_from: Option<UnixMillis>,
        #[arg(long, value_parser = parse_time)]
        valid_until: Option<UnixMillis>,
    },
    /// List the event's ticket types.
    List {
        #[arg(long)]
        event: EventId,
    },
    /// Change a ticket type; options not given stay.
    Update {
        #[arg(long)]
        event: EventId,
        id: TicketTypeId,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = parse_time, conflicts_with = "no_valid_from")]
        valid_from: Option<UnixMillis>,
        #[arg(long, value_parser = parse_time, conflicts_with = "no_valid_until")]
        valid_until: Option<UnixMillis>,
        /// Remove the lower bound.
        #[arg(long)]
        no_valid_from: bool,
        /// Remove the upper bound.
        #[arg(long)]
        no_valid_until: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum GateCommand {
    /// Create a gate (default: entry only, no re-entry, every ticket type).
    Create {
        #[arg(long)]
        event: EventId,
        #[arg(long)]
        name: String,
        /// entry-only, exit-only or entry-and-exit.
        #[arg(long, value_parser = parse_mode)]
        mode: Option<GateMode>,
        /// never, after-exit or always.
        #[arg(long, value_parser = parse_reentry)]
        reentry: Option<Reentry>,
        /// A ticket type admitted here (name or id); repeat for several. None: every type.
        #[arg(long = "allow")]
        allow: Vec<String>,
        /// A form field that must be answered before admission here; repeat for several.
        #[arg(long = "require")]
        require: Vec<String>,
        /// A form field whose answer the verdict screen shows here; repeat for several.
        #[arg(long = "show")]
        show: Vec<String>,
        /// Print the guest's badge at admission: never (the default), first (their first badge
        /// only) or every (at every admission).
        #[arg(long = "print", value_parser = parse_printing)]
        print_badge: Option<BadgePrinting>,
    },
    /// List the event's gates.
    List {
        #[arg(long)]
        event: EventId,
    },
    /// Change a gate; options not given stay.
    Update {
        #[arg(long)]
        event: EventId,
        id: GateId,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = parse_mode)]
        mode: Option<GateMode>,
        #[arg(long, value_parser = parse_reentry)]
        reentry: Option<Reentry>,
        /// Replace the admitted ticket types (name or id; repeat).
        #[arg(long = "allow", conflicts_with = "allow_all")]
        allow: Vec<String>,
        /// Admit every ticket type.
        #[arg(long)]
        allow_all: bool,
        /// Replace the required answers (repeat).
        #[arg(long = "require", conflicts_with = "require_none")]
        require: Vec<String>,
        /// Require no answers.
        #[arg(long)]
        require_none: bool,
        /// Replace the answers shown on the verdict (repeat).
        #[arg(long = "show", conflicts_with = "show_none")]
        show: Vec<String>,
        /// Show no answers.
        #[arg(long)]
        show_none: bool,
        /// Print the guest's badge at admission: never, first or every.
        #[arg(long = "print", value_parser = parse_printing)]
        print_badge: Option<BadgePrinting>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FormCommand {
    /// Upload a form definition (JSON) as the next version of its form.
    Upload {
        #[arg(long)]
        event: EventId,
        file: PathBuf,
    },
    /// List the event's form versions.
    List {
        #[arg(long)]
        event: EventId,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketCommand {
    /// List tickets with their attendees.
    List {
        #[arg(long)]
        event: EventId,
        /// Start after this ticket id.
        #[arg(long)]
        after: Option<TicketId>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Cancel a ticket (kiosks refuse it from their next sync).
    Cancel { id: TicketId },
    /// Revoke a ticket.
    Revoke { id: TicketId },
    /// Make a canceled or revoked ticket valid again.
    Reinstate { id: TicketId },
}

#[derive(Debug, Subcommand)]
pub enum EnrolCommand {
    /// Make a one-time enrolment token and show it as a QR code for the kiosk to scan.
    Create {
        #[arg(long)]
        event: EventId,
        /// Bind the kiosk to this gate.
        #[arg(long)]
        gate: Option<GateId>,
        #[arg(long)]
        label: Option<String>,
        /// Minutes until the token expires (default 60, at most a week).
        #[arg(long)]
        expires_minutes: Option<u64>,
        /// The address kiosks reach the server at.
        #[arg(long, env = "SYNC_PUBLIC_URL")]
        server_url: String,
    },
    /// Enrol a kiosk here and write a kiosk kit file (its enrolment and the latest package) for
    /// a venue with no network at all. The kit code it prints opens the file at the kiosk.
    Kit {
        #[arg(long)]
        event: EventId,
        /// Bind the kiosk to this gate.
        #[arg(long)]
        gate: Option<GateId>,
        /// The kiosk's name in the device list.
        #[arg(long)]
        label: String,
        /// The address the kiosk syncs with once it has a network.
        #[arg(long, env = "SYNC_PUBLIC_URL")]
        server_url: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

/// A kit code: 20 characters in four groups, from an alphabet with no look-alikes (about 98
/// bits), typed at the kiosk beside the kit file.
fn kit_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::rngs::OsRng;
    let chars: Vec<char> = (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(5)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// `enrol kit`: see [`EnrolCommand::Kit`].
async fn write_kit(
    store: &PgStore,
    data_dir: &std::path::Path,
    (event, gate, label, server_url, path): (EventId, Option<GateId>, String, String, PathBuf),
    out: Output,
) -> Result<(), CliError> {
    use crate::store::PackageStore;
    let key =
        crate::keys::load_or_create(data_dir).map_err(|e| CliError::Invalid(e.to_string()))?;
    let package = store.package_file(event, None).await?.ok_or_else(|| {
        CliError::Invalid(format!(
            "event {event} has no package yet: publish one first (a kit carries the latest)"
        ))
    })?;
    let token = catalogue::create_enrolment_token(
        store,
        event,
        NewEnrolmentToken {
            gate_id: gate,
            label: Some(label.clone()),
            expires_in_minutes: Some(5),
            server_url: Some(server_url.clone()),
        },
        None,
        &Who::cli(),
    )
    .await
    .map_err(api_fail)?;
    let device_key = sync_protocol::crypto::SecretKey::generate(&mut rand::rngs::OsRng);
    let request = sync_protocol::wire::EnrolmentRequest {
        token: token.token,
        device_public_key: device_key.public_key(),
        label: label.clone(),
        app_version: "kiosk kit".to_owned(),
    };
    let answer = crate::api::enrol::enrol_device(store, &key, &request)
        .await
        .map_err(api_fail)?;
    let code = kit_code();
    let kit = sync_protocol::kit::KitEnrolment::new(&server_url, answer.clone(), &device_key);
    let bytes = sync_protocol::kit::seal_kit(
        &kit,
        &package,
        &code,
        sync_protocol::crypto::KdfParams::RECOMMENDED,
        &mut rand::rngs::OsRng,
    )
    .map_err(|e| CliError::Invalid(e.to_string()))?;
    write_private(&path, &bytes)?;
    audit(
        store,
        "enrolment.kit",
        Some(event.to_string()),
        json!({ "device_id": answer.device_id, "label": label, "file": path.display().to_string() }),
    )
    .await?;
    let summary = json!({
        "device_id": answer.device_id,
        "event_id": event,
        "file": path.display().to_string(),
        "kit_code": code,
    });
    out.print(&summary, || {
        format!(
            "Kiosk kit for {label:?} (device {}) written to {}.\n\
             Kit code, shown once: {code}\n\
             At the kiosk: Enrol > Kiosk kit, pick the file and type the code.",
            answer.device_id,
            path.display()
        )
    });
    Ok(())
}

/// Writes a file only its owner can read (a kit holds a device's secrets, sealed).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)?;
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// List the event's kiosks.
    List {
        #[arg(long)]
        event: EventId,
    },
    /// Revoke a kiosk: its token stops working at once.
    Revoke { id: DeviceId },
}

/// A catalogue failure as a command-line error; a list of problems is printed first.
pub(super) fn fail(err: CatalogueError, out: Output) -> CliError {
    match err {
        CatalogueError::Api(err) => api_fail(err),
        CatalogueError::Problems { summary, problems } => {
            if out.json {
                let body = ProblemsBody {
                    error: sync_protocol::wire::ErrorBody {
                        code: sync_protocol::wire::ErrorCode::ValidationFailed,
                        message: summary.clone(),
                    },
                    problems,
                };
                out.print(&body, String::new);
            } else {
                for problem in &problems {
                    eprintln!("  {problem}");
                }
            }
            CliError::Invalid(summary)
        }
    }
}

pub(super) fn api_fail(err: ApiError) -> CliError {
    match err {
        ApiError::Internal(source) | ApiError::Unavailable(source) => CliError::Store(source),
        other => CliError::Invalid(other.to_string()),
    }
}

/// An HLC stamp for a command-line write (this process is a clock node of its own).
pub(super) fn tick() -> sync_protocol::hlc::Hlc {
    HlcClock::new(DEFAULT_MAX_DRIFT_MS).tick(crate::state::now())
}

fn parse_mode(s: &str) -> Result<GateMode, String> {
    serde_json::from_value(json!(s.replace('-', "_")))
        .map_err(|_| format!("{s:?}: use entry-only, exit-only or entry-and-exit"))
}

fn parse_printing(s: &str) -> Result<BadgePrinting, String> {
    BadgePrinting::parse(s).ok_or_else(|| format!("{s:?}: use never, first or every"))
}

fn parse_reentry(s: &str) -> Result<Reentry, String> {
    serde_json::from_value(json!(s.replace('-', "_")))
        .map_err(|_| format!("{s:?}: use never, after-exit or always"))
}

/// Unix milliseconds, or RFC 3339 with a `Z` or `±HH:MM` offset (seconds optional).
pub fn parse_time(s: &str) -> Result<UnixMillis, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map(UnixMillis)
            .map_err(|_| format!("{s:?} is out of range"));
    }
    let bad = || format!("{s:?}: give Unix milliseconds or a time like 2026-06-01T09:00:00+02:00");
    let num = |part: &str| -> Result<i64, String> {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (date, rest) = s.split_once(['T', 't', ' ']).ok_or_else(bad)?;
    let mut date_parts = date.split('-');
    let (Some(y), Some(mo), Some(d), None) = (
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
    ) else {
        return Err(bad());
    };
    let (year, month, day) = (num(y)?, num(mo)?, num(d)?);
    let (time, offset_minutes) = if let Some(time) = rest.strip_suffix(['Z', 'z']) {
        (time, 0)
    } else {
        let at = rest.rfind(['+', '-']).ok_or_else(bad)?;
        let (time, offset) = rest.split_at(at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (oh, om) = offset[1..].split_once(':').ok_or_else(bad)?;
        (time, sign * (num(oh)? * 60 + num(om)?))
    };
    let mut time_parts = time.split(':');
    let hour = num(time_parts.next().ok_or_else(bad)?)?;
    let minute = num(time_parts.next().ok_or_else(bad)?)?;
    let second = match time_parts.next() {
        Some(sec) => num(sec.split('.').next().unwrap_or(sec))?,
        None => 0,
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1970..=9999).contains(&year)
        || !(1..=days_in_month).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || time_parts.next().is_some()
    {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    u64::try_from(secs * 1000)
        .map(UnixMillis)
        .map_err(|_| bad())
}

/// Ticket type names or ids to ids of the event.
async fn resolve_types(
    store: &PgStore,
    event: EventId,
    given: &[String],
) -> Result<Vec<TicketTypeId>, CliError> {
    let types = store.ticket_types(event).await?;
    given
        .iter()
        .map(|g| {
            types
                .iter()
                .find(|t| t.name == *g || t.id.to_string() == g.to_lowercase())
                .map(|t| t.id)
                .ok_or_else(|| CliError::Invalid(format!("no ticket type {g:?} in this event")))
        })
        .collect()
}

fn time_text(ms: Option<UnixMillis>) -> String {
    ms.map_or_else(|| "-".to_owned(), |m| m.as_u64().to_string())
}

pub async fn run_event(
    store: &PgStore,
    command: EventCommand,
    out: Output,
) -> Result<(), CliError> {
    match command {
        EventCommand::Create {
            name,
            time_zone,
            starts_at,
            ends_at,
        } => {
            let new = NewEvent {
                name,
                time_zone,
                starts_at,
                ends_at,
            };
            let event = catalogue::create_event(store, new, &Who::cli())
                .await
                .map_err(api_fail)?;
            out.print(&event, || {
                format!("created event {} ({})", event.id, event.name)
            });
        }
        EventCommand::List => {
            let events = store.list_events().await?;
            out.print(&events, || {
                events
                    .iter()
                    .map(|e| {
                        format!(
                            "{}  {}  {}  {}..{}",
                            e.id, e.name, e.time_zone, e.starts_at.0, e.ends_at.0
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        EventCommand::Update {
            id,
            name,
            time_zone,
            starts_at,
            ends_at,
        } => {
            let patch = EventPatch {
                name,
                time_zone,
                starts_at,
                ends_at,
            };
            let event = catalogue::update_event(store, id, patch, &Who::cli())
                .await
                .map_err(api_fail)?;
            out.print(&event, || {
                format!("updated event {} ({})", event.id, event.name)
            });
        }
    }
    Ok(())
}

pub async fn run_ticket_type(
    store: &PgStore,
    command: TicketTypeCommand,
    out: Output,
) -> Result<(), CliError> {
    match command {
        TicketTypeCommand::Create {
            event,
            name,
            valid_from,
            valid_until,
        } => {
            let new = NewTicketType {
                name,
                valid_from,
                valid_until,
            };
            let ticket_type = catalogue::create_ticket_type(store, event, new, &Who::cli())
                .await
                .map_err(api_fail)?;
            out.print(&ticket_type, || {
                format!(
                    "created ticket type {} ({})",
                    ticket_type.id, ticket_type.name
                )
            });
        }
        TicketTypeCommand::List { event } => {
            catalogue::event(store, event).await.map_err(api_fail)?;
            let types = store.ticket_types(event).await?;
            out.print(&types, || {
                types
                    .iter()
                    .map(|t| {
                        format!(
                            "{}  {}  valid {}..{}",
                            t.id,
                            t.name,
                            time_text(t.valid_from),
                            time_text(t.valid_until)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        TicketTypeCommand::Update {
            event,
            id,
            name,
            valid_from,
            valid_until,
            no_valid_from,
            no_valid_until,
        } => {
            let patch = TicketTypePatch {
                name,
                valid_from: if no_valid_from {
                    Some(None)
                } else {
                    valid_from.map(Some)
                },
                valid_until: if no_valid_until {
                    Some(None)
                } else {
                    valid_until.map(Some)
                },
            };
            let ticket_type = catalogue::update_ticket_type(store, event, id, patch, &Who::cli())
                .await
                .map_err(api_fail)?;
            out.print(&ticket_type, || {
                format!(
                    "updated ticket type {} ({})",
                    ticket_type.id, ticket_type.name
                )
            });
        }
    }
    Ok(())
}

pub async fn run_gate(store: &PgStore, command: GateCommand, out: Output) -> Result<(), CliError> {
    match command {
        GateCommand::Create {
            event,
            name,
            mode,
            reentry,
            allow,
            require,
            show,
            print_badge,
        } => {
            let new = NewGate {
                name,
                mode: mode.unwrap_or(GateMode::EntryOnly),
                reentry: reentry.unwrap_or(Reentry::Never),
                allowed_ticket_types: resolve_types(store, event, &allow).await?,
                required_answers: require,
                show_answers: show,
                print_badge: print_badge.unwrap_or_default(),
            };
            let gate = catalogue::create_gate(store, event, new, &Who::cli())
                .await
                .map_err(api_fail)?;
            out.print(&gate, || {
                format!("created gate {} ({})", gate.id, gate.name)
            });
        }
        GateCommand::List { event } => {
            catalogue::event(store, event).await.map_err(api_fail)?;
            let gates = store.gates(event).await?;
            out.print(&gates, || {
                gates
                    .iter()
                    .map(|g| {
                        format!(
                            "{}  {}  {:?}  re-entry {:?}  types {}  requires {}  shows {}  prints {}",
                            g.id,
                            g.name,
                            g.mode,
                            g.reentry,
                            if g.allowed_ticket_types.is_empty() {
                                "all".to_owned()
                            } else {
                                g.allowed_ticket_types.len().to_string()
                            },
                            g.required_answers.join(","),
                            g.show_answers.join(","),
                            g.print_badge.as_str()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        GateCommand::Update {
            event,
            id,
            name,
            mode,
            reentry,
            allow,
            allow_all,
            require,
            require_none,
            show,
            show_none,
            print_badge,
        } => {
            let allowed = if allow_all {
                Some(Vec::new())
            } else if allow.is_empty() {
                None
            } else {
                Some(resolve_types(store, event, &allow).await?)
            };
            let required = if require_none {
                Some(Vec::new())
            } else if require.is_empty() {
                None
            } else {
                Some(require)
            };
            let shown = if show_none {
                Some(Vec::new())
            } else if show.is_empty() {
                None
            } else {
                Some(show)
            };
            let patch = GatePatch {
                name,
                mode,
                reentry,
                allowed_ticket_types: allowed,
                required_answers: required,
                show_answers: shown,
                print_badge,
            };
            let gate = catalogue::update_gate(store, event, id, patch, &Who::cli())
                .await
                .map_err(api_fail)?;
            out.print(&gate, || {
                format!("updated gate {} ({})", gate.id, gate.name)
            });
        }
    }
    Ok(())
}

pub async fn run_form(store: &PgStore, command: FormCommand, out: Output) -> Result<(), CliError> {
    match command {
        FormCommand::Upload { event, file } => {
            let text = std::fs::read(&file)?;
            let definition: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| CliError::Invalid(format!("{} is not JSON: {e}", file.display())))?;
            let form = catalogue::upload_form(store, event, definition, &Who::cli())
                .await
                .map_err(|e| fail(e, out))?;
            out.print(&form, || {
                format!(
                    "uploaded form {} ({}) as version {}",
                    form.id, form.title, form.version
                )
            });
        }
        FormCommand::List { event } => {
            catalogue::event(store, event).await.map_err(api_fail)?;
            let forms = store.form_versions(event).await?;
            out.print(&forms, || {
                forms
                    .iter()
                    .map(|f| format!("{}  v{}  {}", f.id, f.version, f.title))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

pub async fn run_ticket(
    store: &PgStore,
    command: TicketCommand,
    out: Output,
) -> Result<(), CliError> {
    let (id, action) = match command {
        TicketCommand::List {
            event,
            after,
            limit,
        } => {
            catalogue::event(store, event).await.map_err(api_fail)?;
            let tickets = store.tickets(event, after, limit.clamp(1, 5000)).await?;
            out.print(&tickets, || {
                tickets
                    .iter()
                    .map(|t| {
                        format!(
                            "{}  {:?}  {} {}  {}",
                            t.ticket_id,
                            t.status,
                            t.first_name,
                            t.last_name,
                            t.email.as_deref().unwrap_or("-")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            return Ok(());
        }
        TicketCommand::Cancel { id } => (id, TicketAction::Cancel),
        TicketCommand::Revoke { id } => (id, TicketAction::Revoke),
        TicketCommand::Reinstate { id } => (id, TicketAction::Reinstate),
    };
    let change = catalogue::change_ticket_status(store, id, action, tick(), &Who::cli())
        .await
        .map_err(api_fail)?;
    out.print(&change, || {
        if change.changed {
            format!("ticket {id}: {:?} -> {:?}", change.previous, change.status)
        } else {
            format!("ticket {id} was {:?} already", change.status)
        }
    });
    Ok(())
}

pub async fn run_enrol(
    store: &PgStore,
    command: EnrolCommand,
    out: Output,
    data_dir: &std::path::Path,
) -> Result<(), CliError> {
    let (event, gate, label, expires_minutes, server_url) = match command {
        EnrolCommand::Create {
            event,
            gate,
            label,
            expires_minutes,
            server_url,
        } => (event, gate, label, expires_minutes, server_url),
        EnrolCommand::Kit {
            event,
            gate,
            label,
            server_url,
            out: path,
        } => return write_kit(store, data_dir, (event, gate, label, server_url, path), out).await,
    };
    let request = NewEnrolmentToken {
        gate_id: gate,
        label,
        expires_in_minutes: expires_minutes,
        server_url: Some(server_url),
    };
    let created = catalogue::create_enrolment_token(store, event, request, None, &Who::cli())
        .await
        .map_err(api_fail)?;
    let qr = catalogue::qr_for_terminal(&created.qr_text).map_err(CliError::Invalid)?;
    out.print(&created, || {
        format!(
            "{qr}\nScan this at the kiosk, or type: {}\nOne use; expires at {} (Unix ms).",
            created.qr_text, created.expires_at.0
        )
    });
    Ok(())
}

pub async fn run_device(
    store: &PgStore,
    command: DeviceCommand,
    out: Output,
) -> Result<(), CliError> {
    match command {
        DeviceCommand::List { event } => {
            catalogue::event(store, event).await.map_err(api_fail)?;
            let devices = store.devices(event).await?;
            out.print(&devices, || {
                devices
                    .iter()
                    .map(|d| {
                        format!(
                            "{}  {}  gate {}  seen {}  ack seq {}{}",
                            d.id,
                            d.label,
                            d.gate_id.map_or_else(|| "-".to_owned(), |g| g.to_string()),
                            time_text(d.last_seen_at),
                            d.acknowledged_seq,
                            if d.revoked_at.is_some() {
                                "  REVOKED"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        DeviceCommand::Revoke { id } => {
            let audit = Who::cli().entry("device.revoke", Some(id.to_string()), json!({}));
            store.revoke_device(id, &audit).await?;
            out.print(&json!({ "device_id": id, "revoked": true }), || {
                format!("revoked device {id}")
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_millis_or_rfc3339() {
        assert_eq!(
            parse_time("1790000000000"),
            Ok(UnixMillis(1_790_000_000_000))
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(UnixMillis(0)));
        assert_eq!(
            parse_time("2026-06-01T09:00:00+02:00"),
            Ok(UnixMillis(1_780_297_200_000))
        );
        assert_eq!(
            parse_time("2026-06-01 07:00Z"),
            Ok(UnixMillis(1_780_297_200_000))
        );
        assert_eq!(
            parse_time("2024-02-29T00:00:00Z"),
            Ok(UnixMillis(1_709_164_800_000))
        );
        for bad in [
            "",
            "tomorrow",
            "2026-02-30T00:00Z",
            "2026-06-01T25:00Z",
            "2026-06-01",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
