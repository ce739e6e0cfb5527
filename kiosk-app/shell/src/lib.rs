//! The desktop kiosk's Tauri shell: it builds the [`Kiosk`] in setup, manages it, and forwards
//! each command to it (see `commands`). What needs the window lives here too: the camera loop's
//! preview channel and events, the background sync's events, and kiosk mode.
//!
//! - `commands`: the commands the front end may call (each granted by `capabilities/main.json`).
//! - `window`: kiosk mode (fullscreen, no decorations, no closing without the coordinator PIN).
//! - `camera`: the sink that sends the camera loop's previews, scans and states to the window.
//! - `sync`: the kiosk's event stream forwarded to the window, and the background sync's start.
//! - `printing`: badges to the print dialog, or straight to the settings' badge printer.
//!
//! Environment: KIOSK_DATA_DIR (the data folder; else the platform's app-data folder),
//! KIOSK_REPLAY_DIR (a folder of badge images offered as a camera), KIOSK_MODE=1 or `--kiosk`
//! (start in kiosk mode), KIOSK_UNLOCK_PIN (demos and test rigs: unlock at start), RUST_LOG (log
//! filter).

mod camera;
mod commands;
mod printing;
mod sync;
mod window;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kiosk_core::app::Kiosk;
use kiosk_core::app::camera::CameraLoop;
use sync_protocol::crypto::KdfParams;
use tauri::Manager;

/// What every command can reach.
pub struct Shell {
    pub kiosk: Arc<Kiosk>,
    /// A folder of badge images offered as a camera (demos, kiosks without a camera).
    pub replay_dir: Option<PathBuf>,
    pub camera: Mutex<Option<CameraLoop>>,
}

fn data_dir(app: &tauri::App) -> Result<PathBuf, Box<dyn std::error::Error>> {
    match std::env::var_os("KIOSK_DATA_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Ok(app.path().app_data_dir()?),
    }
}

fn wants_kiosk_mode() -> bool {
    std::env::args().any(|a| a == "--kiosk")
        || std::env::var("KIOSK_MODE").is_ok_and(|v| v == "1" || v == "true")
}

/// KIOSK_UNLOCK_PIN, for demos and unattended test rigs only: unlock at start as if the PIN had
/// been typed. A kiosk at a gate never has it set (the PIN would sit beside the store).
fn unlock_from_env(app: &tauri::App) {
    let Some(pin) = std::env::var("KIOSK_UNLOCK_PIN")
        .ok()
        .filter(|p| !p.is_empty())
    else {
        return;
    };
    let shell = app.state::<Shell>();
    match shell.kiosk.unlock(&pin) {
        Ok(_) => sync::start(&shell),
        Err(e) => tracing::warn!(error = %e, "KIOSK_UNLOCK_PIN did not unlock the kiosk"),
    }
}

/// Runs the kiosk app until its window closes.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kiosk_core=info".into()),
        )
        .init();
    let result = tauri::Builder::default()
        // A second start brings the running kiosk to the front instead of opening a second one.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            window::focus_main(app);
        }))
        .setup(|app| {
            let dir = data_dir(app)?;
            tracing::info!(data = %dir.display(), "kiosk data folder");
            let kiosk = Arc::new(Kiosk::open(&dir, KdfParams::RECOMMENDED)?);
            let replay_dir = std::env::var_os("KIOSK_REPLAY_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from);
            app.manage(Shell {
                kiosk,
                replay_dir,
                camera: Mutex::new(None),
            });
            sync::forward_events(app.handle(), &app.state::<Shell>());
            unlock_from_env(app);
            if wants_kiosk_mode() {
                window::enter_kiosk_mode(app.handle())?;
            }
            Ok(())
        })
        .on_window_event(window::on_event)
        .invoke_handler(tauri::generate_handler![
            commands::app_state,
            commands::set_up,
            commands::unlock,
            commands::lock,
            commands::enrol,
            commands::import_package,
            commands::enrol_from_kit,
            commands::fetch_package,
            commands::gates,
            commands::select_gate,
            commands::set_direction,
            commands::scan_code,
            commands::search_guests,
            commands::admit_found,
            commands::answer_questions,
            commands::annul_check_in,
            commands::counts,
            commands::walk_in_setup,
            commands::register_walk_in,
            commands::print_badge,
            commands::printers,
            commands::reprint_badge,
            commands::check_coordinator_pin,
            commands::outbox,
            commands::retry_parked,
            commands::dismiss_parked,
            commands::conflicts,
            commands::sync_status,
            commands::sync_now,
            commands::save_settings,
            commands::cameras,
            commands::start_camera,
            commands::stop_camera,
            commands::set_kiosk_mode,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!(error = %e, "the kiosk app stopped");
        std::process::exit(1);
    }
}
