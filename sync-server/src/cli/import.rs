//! `sync-server admin import --event ID FILE`: a CSV file of attendees and tickets, whole or not
//! at all, with a progress bar on a terminal. The format is in [`crate::import`] and
//! docs/operations.md.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sync_protocol::ids::EventId;

use super::catalogue::{fail, tick};
use super::{CliError, Output};
use crate::store::pg::PgStore;

/// Largest file accepted.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[arg(long)]
    pub event: EventId,
    /// The CSV file (UTF-8; header first_name,last_name,email,ticket_type[,code,external_ref,...]).
    pub file: PathBuf,
}

pub async fn run(
    store: &PgStore,
    args: ImportArgs,
    out: Output,
    data_dir: &Path,
) -> Result<(), CliError> {
    let key_path = data_dir.join("signing-key");
    if !key_path.exists() {
        // Never make a key here: codes signed with a key the server does not use would fail.
        return Err(CliError::Invalid(format!(
            "no signing key at {}; start the server once (or set SYNC_DATA_DIR / data_dir to its data folder)",
            key_path.display()
        )));
    }
    let key =
        crate::keys::load_or_create(data_dir).map_err(|e| CliError::Invalid(e.to_string()))?;
    let size = std::fs::metadata(&args.file)?.len();
    if size > MAX_FILE_BYTES {
        return Err(CliError::Invalid(format!(
            "{} is {size} bytes; split files over {MAX_FILE_BYTES} bytes",
            args.file.display()
        )));
    }
    let bytes = std::fs::read(&args.file)?;

    let bar = if !out.json && std::io::stderr().is_terminal() {
        ProgressBar::new(bytes.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:10} [{bar:40}] {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("checking");
    let writing = bar.clone();
    let mut progress = move |position: u64| {
        bar.set_position(position);
        if position >= bar.length().unwrap_or(0) {
            bar.set_message("writing");
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    };
    let file = args.file.display().to_string();
    let result = crate::catalogue::import_csv(
        store,
        args.event,
        &bytes,
        Some(&file),
        &key,
        tick(),
        &mut progress,
        &crate::store::Who::cli(),
    )
    .await;
    writing.finish_and_clear();
    let summary = result.map_err(|e| fail(e, out))?;
    out.print(&summary, || {
        format!(
            "imported {} rows: {} new, {} updated",
            summary.rows, summary.created, summary.updated
        )
    });
    Ok(())
}
