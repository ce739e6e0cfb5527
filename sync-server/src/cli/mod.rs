//! `sync-server admin ...`: the admin command line, run on the server host against the database.
//!
//! Every command takes `--json` for scripting (one JSON document on stdout) and writes an audit
//! entry with the operating-system user as the actor. One file per area.

mod catalogue;
mod conflicts;
mod import;
mod packages;
mod users;

use clap::Subcommand;
use serde::Serialize;

use crate::store::pg::PgStore;
use crate::store::{StaffStore, Who};

pub use packages::{BenchCommand, bench};

/// The admin subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Staff accounts (admins and coordinators).
    #[command(subcommand)]
    User(users::UserCommand),
    /// Event packages: publish, list, export to a file.
    #[command(subcommand)]
    Package(packages::PackageCommand),
    /// Events.
    #[command(subcommand)]
    Event(catalogue::EventCommand),
    /// Ticket types of an event, with their validity windows.
    #[command(subcommand)]
    TicketType(catalogue::TicketTypeCommand),
    /// Gates of an event: ticket types, direction, re-entry, required answers.
    #[command(subcommand)]
    Gate(catalogue::GateCommand),
    /// Registration forms: upload a new version, list versions.
    #[command(subcommand)]
    Form(catalogue::FormCommand),
    /// Import attendees and tickets from a CSV file (all rows or none).
    Import(import::ImportArgs),
    /// Tickets: list, cancel, revoke, reinstate.
    #[command(subcommand)]
    Ticket(catalogue::TicketCommand),
    /// Kiosk enrolment tokens, shown as a QR code.
    #[command(subcommand)]
    Enrol(catalogue::EnrolCommand),
    /// Kiosks: list, revoke.
    #[command(subcommand)]
    Device(catalogue::DeviceCommand),
    /// Conflicts: list, resolve.
    #[command(subcommand)]
    Conflict(conflicts::ConflictCommand),
    /// Export check-ins or registrations as CSV, or the counts per gate and hour as JSON.
    Export(conflicts::ExportArgs),
}

/// Errors of the admin command line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read input: {0}")]
    Io(#[from] std::io::Error),
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or `human` for people.
    pub fn print<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("output serializes")
            );
        } else {
            println!("{}", human());
        }
    }
}

/// Runs one admin command.
/// `data_dir` holds the server's signing key (see [`crate::keys`]).
pub async fn run(
    store: &PgStore,
    command: AdminCommand,
    out: Output,
    data_dir: &std::path::Path,
) -> Result<(), CliError> {
    match command {
        AdminCommand::User(command) => users::run(store, command, out).await,
        AdminCommand::Package(command) => packages::run(store, command, out, data_dir).await,
        AdminCommand::Event(command) => catalogue::run_event(store, command, out).await,
        AdminCommand::TicketType(command) => catalogue::run_ticket_type(store, command, out).await,
        AdminCommand::Gate(command) => catalogue::run_gate(store, command, out).await,
        AdminCommand::Form(command) => catalogue::run_form(store, command, out).await,
        AdminCommand::Import(args) => import::run(store, args, out, data_dir).await,
        AdminCommand::Ticket(command) => catalogue::run_ticket(store, command, out).await,
        AdminCommand::Enrol(command) => catalogue::run_enrol(store, command, out, data_dir).await,
        AdminCommand::Device(command) => catalogue::run_device(store, command, out).await,
        AdminCommand::Conflict(command) => conflicts::run(store, command, out).await,
        AdminCommand::Export(args) => conflicts::export(store, args, out).await,
    }
}

/// Writes an audit entry for a command-line action that changes nothing stored (an export, a
/// kit written to a file). Commands that change something pass [`Who::cli`] to the change, which
/// writes its entry in its own transaction.
pub async fn audit(
    store: &PgStore,
    action: &'static str,
    target: Option<String>,
    details: serde_json::Value,
) -> Result<(), CliError> {
    store
        .audit(&Who::cli().entry(action, target, details))
        .await?;
    Ok(())
}

/// A secret from an environment variable, else from the first line of standard input.
pub fn read_secret(env_name: &str, prompt: &str) -> Result<String, CliError> {
    if let Ok(value) = std::env::var(env_name) {
        return Ok(value);
    }
    eprint!("{prompt}: ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
