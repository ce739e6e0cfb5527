//! Tauri's build step, with the app's commands declared so that each is a permission the
//! capabilities in `capabilities/` must grant (a command no capability names cannot be called).

const COMMANDS: &[&str] = &[
    "app_state",
    "set_up",
    "unlock",
    "lock",
    "enrol",
    "import_package",
    "enrol_from_kit",
    "fetch_package",
    "gates",
    "select_gate",
    "set_direction",
    "scan_code",
    "search_guests",
    "admit_found",
    "answer_questions",
    "annul_check_in",
    "counts",
    "walk_in_setup",
    "register_walk_in",
    "print_badge",
    "printers",
    "reprint_badge",
    "check_coordinator_pin",
    "outbox",
    "retry_parked",
    "dismiss_parked",
    "conflicts",
    "sync_status",
    "sync_now",
    "save_settings",
    "cameras",
    "start_camera",
    "stop_camera",
    "set_kiosk_mode",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("the Tauri build step (is ui/dist built? run scripts/build-ui)");
}
