//! `sync-server admin ...`: the admin command line, run on the server host against the database.
//!
//! Every command takes `--json` for scripting (one JSON document on stdout) and writes an audit
//! entry with the operating-system user as the actor. One file per area.

mod users;

use clap::Subcommand;
use serde::Serialize;

use crate::store::pg::PgStore;
use crate::store::{Actor, AuditEntry, StaffStore};

/// The admin subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Staff accounts (admins and coordinators).
    #[command(subcommand)]
    User(users::UserCommand),
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
pub async fn run(store: &PgStore, command: AdminCommand, out: Output) -> Result<(), CliError> {
    match command {
        AdminCommand::User(command) => users::run(store, command, out).await,
    }
}

/// Writes an audit entry for a command-line action.
pub async fn audit(
    store: &PgStore,
    action: &'static str,
    target: Option<String>,
    details: serde_json::Value,
) -> Result<(), CliError> {
    let os_user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".to_owned());
    store
        .audit(&AuditEntry {
            actor: Actor::Cli { os_user },
            action,
            target,
            details,
            source: "cli".to_owned(),
        })
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
