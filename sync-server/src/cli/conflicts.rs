//! `sync-server admin conflict list|resolve` and `sync-server admin export`: the conflicts and
//! reports of [`crate::api::conflicts`] and [`crate::api::reports`] on the server host.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use sync_protocol::HlcClock;
use sync_protocol::hlc::DEFAULT_MAX_DRIFT_MS;
use sync_protocol::ids::{AttendeeId, EventId};

use super::{CliError, Output, audit};
use crate::api::reports::{badge_prints_to_csv, check_ins_to_csv, registrations_to_csv};
use crate::store::pg::PgStore;
use crate::store::{
    Actor, ConflictFilter, ConflictStatus, ConflictStore, PickSide, Resolution, Who,
};

#[derive(Debug, Subcommand)]
pub enum ConflictCommand {
    /// List an event's conflicts, oldest first.
    List {
        #[arg(long)]
        event: EventId,
        /// open or resolved.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// double_admission, admitted_while_canceled, admitted_while_revoked, field_conflict,
        /// possible_duplicate, parked_ticket, unfiled_change.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Resolve a conflict: reviewed (admissions, parked tickets), merge or not-duplicate
    /// (possible duplicates), pick (field conflicts).
    Resolve {
        id: uuid::Uuid,
        #[arg(long, value_enum)]
        action: ActionArg,
        /// merge: the attendee to keep.
        #[arg(long)]
        keep: Option<AttendeeId>,
        /// pick: which side's value to keep.
        #[arg(long, value_enum)]
        side: Option<SideArg>,
        /// pick: an explicit value, as JSON (e.g. '"Ann"').
        #[arg(long)]
        value: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Open,
    Resolved,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActionArg {
    Reviewed,
    Merge,
    NotDuplicate,
    Pick,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SideArg {
    Overwritten,
    Overwriting,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportArg {
    CheckIns,
    Registrations,
    BadgePrints,
    Stats,
}

/// `sync-server admin export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// check-ins (CSV), registrations (CSV), badge-prints (CSV: the print log) or stats (JSON:
    /// per gate and per hour).
    #[arg(value_enum)]
    pub report: ReportArg,
    #[arg(long)]
    pub event: EventId,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(store: &PgStore, command: ConflictCommand, out: Output) -> Result<(), CliError> {
    match command {
        ConflictCommand::List {
            event,
            status,
            kind,
            limit,
        } => {
            let filter = ConflictFilter {
                status: status.map(|s| match s {
                    StatusArg::Open => ConflictStatus::Open,
                    StatusArg::Resolved => ConflictStatus::Resolved,
                }),
                kind,
                limit: Some(limit),
            };
            let conflicts = store.list_conflicts(event, &filter).await?;
            out.print(&json!({ "conflicts": conflicts }), || {
                let mut lines = vec![format!("{} conflicts", conflicts.len())];
                lines.extend(conflicts.iter().map(|c| {
                    format!(
                        "{}  {:<24} {:<8} {}",
                        c.id,
                        c.kind,
                        c.status.as_str(),
                        c.key
                    )
                }));
                lines.join("\n")
            });
        }
        ConflictCommand::Resolve {
            id,
            action,
            keep,
            side,
            value,
            note,
        } => {
            let resolution = match action {
                ActionArg::Reviewed => Resolution::Reviewed { note },
                ActionArg::NotDuplicate => Resolution::NotDuplicate { note },
                ActionArg::Merge => Resolution::Merge {
                    keep: keep.ok_or_else(|| {
                        CliError::Invalid("merge needs --keep <attendee id>".into())
                    })?,
                    note,
                },
                ActionArg::Pick => Resolution::Pick {
                    side: side.map(|s| match s {
                        SideArg::Overwritten => PickSide::Overwritten,
                        SideArg::Overwriting => PickSide::Overwriting,
                    }),
                    value: value
                        .map(|v| serde_json::from_str(&v))
                        .transpose()
                        .map_err(|e| CliError::Invalid(format!("--value is not JSON: {e}")))?,
                    note,
                },
            };
            let who = Who::cli();
            let resolved_by = match &who.actor {
                Actor::Cli { os_user } => format!("cli:{os_user}"),
                _ => "cli".to_owned(),
            };
            let stamp = HlcClock::new(DEFAULT_MAX_DRIFT_MS).tick(crate::state::now());
            let resolved = store
                .resolve_conflict(
                    id,
                    &resolution,
                    &resolved_by,
                    stamp,
                    crate::api::conflicts::resolution_audit(&who, id),
                )
                .await?;
            out.print(&resolved, || {
                format!(
                    "resolved {} ({}): {}",
                    resolved.id,
                    resolved.kind,
                    resolved.resolution.clone().unwrap_or_default()
                )
            });
        }
    }
    Ok(())
}

pub async fn export(store: &PgStore, args: ExportArgs, out: Output) -> Result<(), CliError> {
    let (text, rows) = match args.report {
        ReportArg::CheckIns => {
            let rows = store.export_check_ins(args.event).await?;
            (check_ins_to_csv(&rows), rows.len())
        }
        ReportArg::Registrations => {
            let rows = store.export_registrations(args.event).await?;
            (registrations_to_csv(&rows), rows.len())
        }
        ReportArg::BadgePrints => {
            let rows = store.export_badge_prints(args.event).await?;
            (badge_prints_to_csv(&rows), rows.len())
        }
        ReportArg::Stats => {
            let stats = store.event_stats(args.event).await?;
            let text = serde_json::to_string_pretty(&stats).expect("stats serialize") + "\n";
            (text, stats.gates.len())
        }
    };
    let report = format!("{:?}", args.report).to_lowercase();
    audit(
        store,
        "report.export",
        Some(args.event.to_string()),
        json!({ "report": report, "rows": rows }),
    )
    .await?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)?;
            out.print(
                &json!({ "report": report, "rows": rows, "path": path }),
                || format!("wrote {rows} rows to {}", path.display()),
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}
