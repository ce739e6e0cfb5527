//! `kiosk-app`: the desktop kiosk. Everything happens in the library (`kiosk_app_shell::run`).
//!
//! `kiosk-app --version` prints the version and exits without opening a window (install checks);
//! `kiosk-app --kiosk` starts in kiosk mode.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V")
    {
        println!("kiosk-app {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    kiosk_app_shell::run();
}
