//! The settings file, `settings.json` beside the store. It holds nothing personal (gate, camera,
//! sound, language), so it stays readable before the PIN is entered. A missing or damaged file
//! gives the defaults; saving writes a new file and renames it over the old one.

use std::path::Path;

use super::AppError;
use super::view::Settings;

/// The languages the front end has strings for.
pub const LANGUAGES: &[&str] = &["en", "fr"];

const FILE: &str = "settings.json";

/// The saved settings, or the defaults.
pub fn load(data_dir: &Path) -> Settings {
    let path = data_dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let mut settings: Settings = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "settings unreadable: defaults");
                Settings::default()
            });
            // A hand-edited idle time out of range must not leave the desk open for ever.
            if !(1..=super::view::MAX_DESK_LOCK_MINUTES).contains(&settings.desk_lock_minutes) {
                settings.desk_lock_minutes = Settings::default().desk_lock_minutes;
            }
            settings
        }
        Err(_) => Settings::default(),
    }
}

/// Saves `settings` atomically.
pub fn save(data_dir: &Path, settings: &Settings) -> Result<(), AppError> {
    let path = data_dir.join(FILE);
    let temporary = data_dir.join(format!("{FILE}.new"));
    let json = serde_json::to_vec_pretty(settings).expect("settings serialize");
    std::fs::write(&temporary, json)
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|e| AppError::Store(format!("saving {}: {e}", path.display())))
}
