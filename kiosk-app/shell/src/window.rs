//! Kiosk mode: the main window fullscreen, without decorations, above other windows, and not
//! closable; leaving it takes the coordinator PIN. Outside kiosk mode the window is an ordinary
//! one (for set-up and the coordinator's desk).

use kiosk_core::app::{AppError, AppState};
use tauri::{AppHandle, Manager, Runtime, Window, WindowEvent};

use crate::Shell;

const MAIN: &str = "main";

fn apply<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), AppError> {
    let window = app
        .get_webview_window(MAIN)
        .ok_or_else(|| AppError::Internal("the kiosk window is gone".to_owned()))?;
    let fail = |e: tauri::Error| AppError::Internal(format!("kiosk mode: {e}"));
    window.set_decorations(!on).map_err(fail)?;
    window.set_always_on_top(on).map_err(fail)?;
    window.set_fullscreen(on).map_err(fail)?;
    if on {
        window.set_focus().map_err(fail)?;
    }
    Ok(())
}

/// Puts the window in kiosk mode (at start with `--kiosk` or KIOSK_MODE=1).
pub fn enter_kiosk_mode<R: Runtime>(app: &AppHandle<R>) -> Result<(), AppError> {
    apply(app, true)?;
    app.state::<Shell>().kiosk.set_kiosk_mode(true);
    tracing::info!("kiosk mode on");
    Ok(())
}

/// Enters kiosk mode, or leaves it with the coordinator PIN.
pub fn set_kiosk_mode(
    app: &AppHandle,
    shell: &Shell,
    on: bool,
    pin: Option<&str>,
) -> Result<AppState, AppError> {
    if on {
        enter_kiosk_mode(app)?;
    } else {
        shell.kiosk.check_coordinator_pin(pin.unwrap_or_default())?;
        apply(app, false)?;
        shell.kiosk.set_kiosk_mode(false);
        tracing::info!("kiosk mode off");
    }
    shell.kiosk.state()
}

/// In kiosk mode the window cannot be closed (Alt+F4, the window manager).
pub fn on_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event
        && window
            .app_handle()
            .state::<Shell>()
            .kiosk
            .state()
            .is_ok_and(|s| s.kiosk_mode)
    {
        tracing::info!("close refused: kiosk mode");
        api.prevent_close();
    }
}

/// Brings the running kiosk's window to the front (a second start does this).
pub fn focus_main<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}
