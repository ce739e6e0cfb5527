//! `kiosk-app`: the desktop kiosk. Everything happens in the library (`kiosk_app_shell::run`).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    kiosk_app_shell::run();
}
