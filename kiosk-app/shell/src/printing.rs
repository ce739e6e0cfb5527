//! Badges to paper. Without a badge printer in the settings each badge opens the system print
//! dialog; with one (`Settings::badge_printer`) it goes straight to that printer, no dialog, as a
//! gate that prints at every admission needs. Both go through the webview's own print operation
//! (WebKitGTK), so the page's print styles decide what is on the paper: the badge card alone.
//!
//! The printers offered are the system's (CUPS: `lpstat -e`). `file` prints each badge to a PDF
//! in the data folder (`printed/`) through GTK's "Print to File": a badge layout tried without
//! paper, and the window tests' printer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiosk_core::app::{AppError, BADGE_PRINTER_FILE};
use tauri::WebviewWindow;

/// How long a badge may take to reach the printer's queue before the gate is told it failed.
const PRINT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the system may take to list its printers.
const LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// Prints the window's page: through the dialog when `printer` is `None`, else straight to it.
/// Answers once the badge is in the printer's queue (or written, for `file`).
pub async fn print(
    window: &WebviewWindow,
    printer: Option<String>,
    data_dir: &Path,
) -> Result<(), AppError> {
    let Some(printer) = printer else {
        return window
            .print()
            .map_err(|e| AppError::Printer(format!("the print dialog: {e}")));
    };
    let file = if printer == BADGE_PRINTER_FILE {
        Some(badge_file(data_dir)?)
    } else {
        None
    };
    let (done, finished) = tokio::sync::oneshot::channel();
    let name = printer.clone();
    let written = file.clone();
    window
        .with_webview(move |webview| silently(webview, &name, written.as_deref(), done))
        .map_err(|e| AppError::Printer(format!("the window: {e}")))?;
    let answer = match tokio::time::timeout(PRINT_TIMEOUT, finished).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err("the print operation ended without a word".to_owned()),
        Err(_) => Err(format!(
            "no answer from {printer:?} within {} s",
            PRINT_TIMEOUT.as_secs()
        )),
    };
    match answer {
        Ok(()) => {
            tracing::info!(%printer, file = ?file, "badge printed");
            Ok(())
        }
        Err(message) => {
            tracing::warn!(%printer, %message, "a badge was not printed");
            Err(AppError::Printer(format!("{printer}: {message}")))
        }
    }
}

/// A new PDF file for one badge, in `printed/` of the data folder.
fn badge_file(data_dir: &Path) -> Result<PathBuf, AppError> {
    let dir = data_dir.join("printed");
    std::fs::create_dir_all(&dir)
        .map_err(|e| AppError::Printer(format!("cannot make {}: {e}", dir.display())))?;
    let now = kiosk_core::background::system_clock().as_u64();
    for n in 0u32.. {
        let path = dir.join(format!("badge-{now}-{n}.pdf"));
        if !path.exists() {
            return Ok(path);
        }
    }
    unreachable!("some file name is free")
}

/// The printers the system knows, by name (CUPS), for the settings; none when it has no CUPS.
pub async fn printers() -> Vec<String> {
    let listed = tauri::async_runtime::spawn_blocking(|| {
        std::process::Command::new("lpstat")
            .arg("-e")
            .stdin(std::process::Stdio::null())
            .output()
    });
    match tokio::time::timeout(LIST_TIMEOUT, listed).await {
        Ok(Ok(Ok(output))) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect(),
        Ok(Ok(Ok(output))) => {
            let said = String::from_utf8_lossy(&output.stderr);
            tracing::info!(said = %said.trim(), "no printers listed (is CUPS running?)");
            Vec::new()
        }
        Ok(Ok(Err(e))) => {
            tracing::info!(error = %e, "no printers listed (lpstat: is CUPS installed?)");
            Vec::new()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "listing printers failed");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!("the system did not list its printers in time");
            Vec::new()
        }
    }
}

/// On the main thread: the webview's print operation with `printer` and no dialog. `done` gets
/// the outcome: WebKit says `failed` (an unknown printer, a refused job) before `finished`.
#[cfg(target_os = "linux")]
fn silently(
    webview: tauri::webview::PlatformWebview,
    printer: &str,
    file: Option<&Path>,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
) {
    use std::cell::RefCell;
    use std::rc::Rc;

    use webkit2gtk::{PrintOperation, PrintOperationExt};

    let settings = gtk::PrintSettings::new();
    match file {
        Some(path) => {
            // GTK names its file printer in the language it runs in.
            settings.set_printer(&gtk::glib::dgettext(Some("gtk30"), "Print to File"));
            match gtk::glib::filename_to_uri(path, None) {
                Ok(uri) => settings.set("output-uri", Some(&uri)),
                Err(e) => {
                    let _ = done.send(Err(format!("{}: {e}", path.display())));
                    return;
                }
            }
            settings.set("output-file-format", Some("pdf"));
        }
        None => settings.set_printer(printer),
    }
    let operation = PrintOperation::new(&webview.inner());
    operation.set_print_settings(&settings);
    let done = Rc::new(RefCell::new(Some(done)));
    let on_failed = done.clone();
    operation.connect_failed(move |_, error| {
        if let Some(done) = on_failed.borrow_mut().take() {
            let _ = done.send(Err(error.to_string()));
        }
    });
    operation.connect_finished(move |_| {
        if let Some(done) = done.borrow_mut().take() {
            let _ = done.send(Ok(()));
        }
    });
    operation.print();
}

/// Elsewhere (the kiosk ships for Linux): no silent printing.
#[cfg(not(target_os = "linux"))]
fn silently(
    _webview: tauri::webview::PlatformWebview,
    _printer: &str,
    _file: Option<&Path>,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
) {
    let _ = done.send(Err("printing without the dialog needs Linux".to_owned()));
}
