//! The kiosk app as the screens use it: one [`Kiosk`] per window, holding the store (when
//! unlocked) and the settings, with one method per thing a volunteer, the desk or a coordinator
//! does. The Tauri shell only forwards to these methods, so everything here is tested without a
//! window.
//!
//! - [`view`]: the serialisable views the screens see (the front end's types are generated from
//!   them).
//! - [`error`]: [`AppError`] and its structured form `{kind, message, field, fields}`.
//! - [`settings`]: the settings file beside the store.
//! - [`camera`]: the gate's camera loop (frames, preview, decode, judge).

pub mod camera;
pub mod error;
pub mod settings;
pub mod view;

#[cfg(feature = "ts")]
pub mod bindings;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use sync_protocol::UnixMillis;
use sync_protocol::changes::FoundBy;
use sync_protocol::crypto::KdfParams;
use sync_protocol::ids::{AttendeeId, CheckInId, GateId, TicketId};
use sync_protocol::model::{Answers, Direction, Gate};

pub use error::{AppError, ErrorKind, UiError};
pub use view::*;

use crate::background::{LoopConfig, SyncHandle, SyncLoop, SyncStatus};
pub use crate::events::KioskEvent;
use crate::events::{EventSender, emit, emit_synced, reporting_progress};
use crate::store::{
    COORDINATOR_PIN_MIN, GateCounts, KIOSK_PIN_MIN, KioskStore, PIN_MAX, check_pin,
};
use crate::sync::{SyncClient, SyncProgress, SyncReport};
use crate::walkin::WalkInRequest;

/// The store file inside the kiosk's data folder.
pub const STORE_FILE: &str = "kiosk.db";

/// Most guests one search lists (the volunteer types more to narrow it down).
pub const MAX_SEARCH_HITS: usize = 50;
/// Longest search query read (the rest is ignored).
const MAX_QUERY_CHARS: usize = 200;

/// A store shared between the screens and the background sync.
pub type SharedStore = Arc<Mutex<KioskStore>>;

/// One kiosk: its data folder, settings and (once unlocked) store.
pub struct Kiosk {
    data_dir: PathBuf,
    kdf: KdfParams,
    settings: Mutex<Settings>,
    store: RwLock<Option<SharedStore>>,
    kiosk_mode: AtomicBool,
    /// The event stream the screens subscribe to.
    events: EventSender,
    /// The background sync, while unlocked and enrolled.
    sync: Mutex<Option<Arc<SyncHandle>>>,
    clock: fn() -> UnixMillis,
}

/// The system clock.
pub fn system_now() -> UnixMillis {
    UnixMillis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

fn lock(store: &SharedStore) -> MutexGuard<'_, KioskStore> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

impl Kiosk {
    /// Opens the kiosk kept in `data_dir` (created if missing), locked.
    pub fn open(data_dir: &Path, kdf: KdfParams) -> Result<Kiosk, AppError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| AppError::Store(format!("{}: {e}", data_dir.display())))?;
        let settings = settings::load(data_dir);
        Ok(Kiosk {
            data_dir: data_dir.to_owned(),
            kdf,
            settings: Mutex::new(settings),
            store: RwLock::new(None),
            kiosk_mode: AtomicBool::new(false),
            events: crate::events::channel(),
            sync: Mutex::new(None),
            clock: system_now,
        })
    }

    /// The same kiosk with another clock (for tests).
    pub fn with_clock(mut self, clock: fn() -> UnixMillis) -> Kiosk {
        self.clock = clock;
        self
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn store_path(&self) -> PathBuf {
        self.data_dir.join(STORE_FILE)
    }

    /// The unlocked store, for the background sync and the camera loop.
    pub fn store(&self) -> Result<SharedStore, AppError> {
        self.store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                if self.store_path().exists() {
                    AppError::Locked
                } else {
                    AppError::NotSetUp
                }
            })
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Saves new settings; a gate must be one of the package's.
    pub fn save_settings(&self, new: Settings) -> Result<AppState, AppError> {
        if let Some(gate) = new.gate_id {
            self.gate(gate)?;
        }
        if !settings::LANGUAGES.contains(&new.language.as_str()) {
            return Err(AppError::invalid(
                "language",
                format!("unknown language {:?}", new.language),
            ));
        }
        if !(1..=MAX_DESK_LOCK_MINUTES).contains(&new.desk_lock_minutes) {
            return Err(AppError::invalid(
                "desk_lock_minutes",
                format!(
                    "the desk locks itself after 1 to {MAX_DESK_LOCK_MINUTES} idle minutes, not {}",
                    new.desk_lock_minutes
                ),
            ));
        }
        if let Some(printer) = &new.badge_printer {
            // CUPS names a printer with at most 127 printable characters, no spaces, '/' or '#'.
            if printer.is_empty()
                || printer.len() > 127
                || printer
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '/' || c == '#')
            {
                return Err(AppError::invalid(
                    "badge_printer",
                    format!("{printer:?} is not a printer's name"),
                ));
            }
        }
        settings::save(&self.data_dir, &new)?;
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = new;
        self.state()
    }

    /// A receiver of every event from now on: verdicts, sync status and progress, packages
    /// applied, background errors (see [`crate::events`]).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<KioskEvent> {
        self.events.subscribe()
    }

    /// Whether the background sync reached the server on its last try (a check-in records
    /// whether it was made offline). Without a background sync the kiosk counts as offline.
    pub fn is_online(&self) -> bool {
        self.sync
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|h| h.status().online)
    }

    pub fn set_kiosk_mode(&self, on: bool) {
        self.kiosk_mode.store(on, Ordering::SeqCst);
    }

    /// What the screens need to decide what to show.
    pub fn state(&self) -> Result<AppState, AppError> {
        let settings = self.settings();
        let mut state = AppState {
            phase: Phase::Setup,
            event: None,
            device: None,
            package_version: None,
            gate: None,
            settings,
            kiosk_mode: self.kiosk_mode.load(Ordering::SeqCst),
        };
        let store = match self.store() {
            Ok(store) => store,
            Err(AppError::NotSetUp) => return Ok(state),
            Err(AppError::Locked) => {
                state.phase = Phase::Locked;
                return Ok(state);
            }
            Err(other) => return Err(other),
        };
        let store = lock(&store);
        let identity = store.identity()?;
        state.device = identity.as_ref().map(|i| DeviceView {
            device_id: i.device_id,
            server_url: i.server_url.clone(),
        });
        state.package_version = store.package_version()?;
        state.event = store.event()?.map(|e| EventView {
            id: e.id,
            name: e.name,
            time_zone: e.time_zone,
        });
        state.gate = match state.settings.gate_id {
            // A gate whose row is damaged shows as none picked; scanning there says why.
            Some(id) => match store.gate(id) {
                Err(crate::store::StoreError::DamagedRule { .. }) => None,
                other => other?,
            },
            None => None,
        };
        state.phase = match (&identity, state.package_version) {
            (None, _) => Phase::Enrol,
            (Some(_), None) => Phase::Package,
            (Some(_), Some(_)) => Phase::Ready,
        };
        Ok(state)
    }

    /// First run: creates the store under the kiosk PIN and sets the coordinator PIN.
    pub fn set_up(&self, kiosk_pin: &str, coordinator_pin: &str) -> Result<AppState, AppError> {
        if self.store_path().exists() {
            return Err(AppError::AlreadySetUp);
        }
        if kiosk_pin == coordinator_pin {
            return Err(AppError::invalid(
                "coordinator_pin",
                "the coordinator PIN must differ from the kiosk PIN",
            ));
        }
        // Check both PINs before creating anything, so a bad coordinator PIN leaves no store.
        if check_pin(kiosk_pin, KIOSK_PIN_MIN).is_err() {
            return Err(AppError::invalid(
                "pin",
                format!("a kiosk PIN has {KIOSK_PIN_MIN} to {PIN_MAX} characters"),
            ));
        }
        if check_pin(coordinator_pin, COORDINATOR_PIN_MIN).is_err() {
            return Err(AppError::invalid(
                "coordinator_pin",
                format!("a coordinator PIN has {COORDINATOR_PIN_MIN} to {PIN_MAX} characters"),
            ));
        }
        let store = KioskStore::create_with(&self.store_path(), kiosk_pin, self.kdf, |store| {
            store.set_coordinator_pin(coordinator_pin, self.kdf)
        })?;
        *self.store.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Mutex::new(store)));
        self.state()
    }

    /// Opens the store with the kiosk PIN. A wrong PIN changes nothing but the count of wrong
    /// PINs (after too many the kiosk waits before it checks another). A key wrapped with lower
    /// Argon2id costs than this kiosk's is wrapped again with them.
    pub fn unlock(&self, pin: &str) -> Result<AppState, AppError> {
        let mut store = KioskStore::unlock_at(&self.store_path(), pin, (self.clock)())?;
        if store.upgrade_kdf(pin, self.kdf)? {
            tracing::info!(kdf = ?self.kdf, "the kiosk PIN's key wrapping was raised to the current costs");
        }
        *self.store.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Mutex::new(store)));
        self.warm_guest_search();
        self.state()
    }

    /// Builds the guest search's index on a thread of its own, so the volunteer's first search
    /// does not wait for it (it opens every ticket: most of a second at 100,000 tickets). A scan
    /// in that moment waits for the store like any other action.
    fn warm_guest_search(&self) {
        if !self.settings().show_names {
            return;
        }
        let Ok(store) = self.store() else { return };
        let spawned = std::thread::Builder::new()
            .name("guest-search".into())
            .spawn(move || {
                if let Err(e) = lock(&store).warm_guest_search() {
                    tracing::warn!(error = %e, "the guest search index could not be built");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread for the guest search index");
        }
    }

    /// Closes the store: the next action needs the PIN again.
    pub fn lock(&self) -> AppState {
        // Dropping the handle stops the background sync; it restarts after the next unlock.
        self.sync.lock().unwrap_or_else(|e| e.into_inner()).take();
        *self.store.write().unwrap_or_else(|e| e.into_inner()) = None;
        self.state()
            .unwrap_or_else(|_| unreachable_state(self.settings()))
    }

    /// Changes the kiosk PIN: the old one is checked first, and a wrong one changes nothing.
    pub fn change_pin(&self, old_pin: &str, new_pin: &str) -> Result<(), AppError> {
        let store = self.store()?;
        lock(&store).change_pin(old_pin, new_pin, self.kdf)?;
        Ok(())
    }

    /// Checks the coordinator PIN (coordinator screen, leaving kiosk mode).
    pub fn check_coordinator_pin(&self, pin: &str) -> Result<(), AppError> {
        Ok(lock(&self.store()?).check_coordinator_pin_at(pin, (self.clock)())?)
    }

    /// Enrols with a server: `invite` is the enrolment QR's text, or the server URL when
    /// `token` is given.
    pub async fn enrol(
        &self,
        invite: &str,
        token: Option<&str>,
        label: &str,
    ) -> Result<AppState, AppError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let invite = crate::enrol::invite_from(invite, token).ok_or_else(|| {
            AppError::invalid(
                "invite",
                "not an enrolment code: scan the QR from the server, or type its URL and token",
            )
        })?;
        if !(invite.server_url.starts_with("http://") || invite.server_url.starts_with("https://"))
        {
            return Err(AppError::invalid(
                "server_url",
                "the server address starts with https:// (or http:// on a local network)",
            ));
        }
        let store = self.store()?;
        crate::enrol::enrol(&store, &invite, label).await?;
        self.state()
    }

    /// Enrols from a kiosk kit file (a venue with no network at all) opened with its kit code,
    /// and applies the kit's package: the kiosk is ready to scan at once.
    pub fn enrol_from_kit(&self, kit: &[u8], code: &str) -> Result<AppState, AppError> {
        let store = self.store()?;
        let (_, version) = crate::enrol::enrol_from_kit(&store, kit, code)?;
        emit(&self.events, KioskEvent::Package { version });
        self.state()
    }

    /// Applies a package file (from a USB stick), checked against the pinned server key.
    pub fn import_package(&self, bytes: &[u8]) -> Result<PackageApplied, AppError> {
        let store = self.store()?;
        let mut store = lock(&store);
        let identity = store.identity()?.ok_or(AppError::NotEnrolled)?;
        let manifest = store.apply_package_bytes(bytes, &identity.server_key, identity.event_id)?;
        let applied = PackageApplied {
            version: manifest.version,
            tickets: store.ticket_count()?,
        };
        drop(store);
        self.warm_guest_search();
        emit(
            &self.events,
            KioskEvent::Package {
                version: manifest.version,
            },
        );
        if let Some(handle) = self.sync_handle_call() {
            handle.refresh_counts();
        }
        Ok(applied)
    }

    /// Fetches and applies the newest package from the server (through the background sync
    /// when it runs, so a fetch never overlaps a sync).
    pub async fn fetch_package(&self) -> Result<PackageApplied, AppError> {
        let store = self.store()?;
        match self.sync_handle_call() {
            Some(handle) => {
                handle.fetch_package().await?;
            }
            None => {
                let client = SyncClient::for_store(&lock(&store))?;
                if let Some(version) = client.fetch_package(&store).await? {
                    emit(&self.events, KioskEvent::Package { version });
                }
            }
        }
        let store = lock(&store);
        Ok(PackageApplied {
            version: store.package_version()?.ok_or(AppError::NoPackage)?,
            tickets: store.ticket_count()?,
        })
    }

    /// The package's gates.
    pub fn gates(&self) -> Result<Vec<Gate>, AppError> {
        Ok(lock(&self.store()?).gates()?)
    }

    fn gate(&self, id: GateId) -> Result<Gate, AppError> {
        lock(&self.store()?)
            .gate(id)?
            .ok_or_else(|| AppError::invalid("gate_id", "this gate is not in the package"))
    }

    /// Picks the gate this kiosk scans at (kept in the settings).
    pub fn select_gate(&self, id: GateId) -> Result<AppState, AppError> {
        let gate = self.gate(id)?;
        let mut settings = self.settings();
        settings.gate_id = Some(id);
        if !gate.mode.allows(settings.direction) {
            settings.direction = match settings.direction {
                Direction::Entry => Direction::Exit,
                Direction::Exit => Direction::Entry,
            };
        }
        self.save_settings(settings)
    }

    /// Switches between entry and exit scanning, where the gate scans both.
    pub fn set_direction(&self, direction: Direction) -> Result<AppState, AppError> {
        let mut settings = self.settings();
        let gate = self.gate(settings.gate_id.ok_or(AppError::NoGate)?)?;
        if !gate.mode.allows(direction) {
            return Err(AppError::invalid(
                "direction",
                format!("gate {} does not scan this direction", gate.name),
            ));
        }
        settings.direction = direction;
        self.save_settings(settings)
    }

    /// Judges a scanned code at the picked gate and records it before answering.
    pub fn scan(&self, payload: &[u8], source: ScanSource) -> Result<ScanOutcome, AppError> {
        self.judge(source, |store, gate_id, direction, now, offline| {
            crate::gate::scan(store, payload, gate_id, direction, now, offline)
        })
    }

    /// Guests matching what the volunteer typed, best first (at most `limit`, capped at
    /// [`MAX_SEARCH_HITS`]), from an index held in memory (`crate::search`). A kiosk set to hide
    /// guests' names offers no search: finding by name would show them.
    pub fn search_guests(&self, query: &str, limit: usize) -> Result<GuestSearchView, AppError> {
        if !self.settings().show_names {
            return Err(AppError::Invalid {
                field: Some("query".into()),
                message: "this kiosk hides guests' names, so finding a guest by name is off \
                          (a coordinator can change it in the settings)"
                    .into(),
            });
        }
        let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
        let store = self.store()?;
        let mut store = lock(&store);
        let ticket_types = store.ticket_types()?;
        let found = store.search_guests(&query, limit.min(MAX_SEARCH_HITS))?;
        let hits = found
            .found
            .into_iter()
            .map(|f| GuestHit {
                ticket_id: f.guest.ticket_id,
                name: f.guest.name,
                email: f.guest.email,
                ticket_type: ticket_types
                    .iter()
                    .find(|t| t.id == f.guest.ticket_type_id)
                    .map(|t| t.name.clone()),
                status: f.status,
                entries: f.entries,
                last_entry_at: f.last_entry_at,
            })
            .collect();
        Ok(GuestSearchView {
            query,
            hits,
            total: found.total.min(u32::MAX as usize) as u32,
        })
    }

    /// Judges the ticket picked from a search at the picked gate, as a scan of its code would be,
    /// and records it (the check-in says it was found by search).
    pub fn admit_found(&self, ticket_id: TicketId) -> Result<ScanOutcome, AppError> {
        self.judge(
            ScanSource::Search,
            |store, gate_id, direction, now, offline| {
                crate::gate::admit_found(store, ticket_id, gate_id, direction, now, offline)
            },
        )
    }

    /// Takes the answers to the questions the picked gate asks of this ticket (after a
    /// `needs_answers` verdict), keeps them with the guest, and judges the ticket again; `source`
    /// is how the ticket was found first. Problems come back one per question.
    pub fn answer_questions(
        &self,
        ticket_id: TicketId,
        answers: Answers,
        source: ScanSource,
    ) -> Result<ScanOutcome, AppError> {
        let found_by = match source {
            ScanSource::Search => FoundBy::Search,
            ScanSource::Camera | ScanSource::Wedge | ScanSource::Typed => FoundBy::Code,
        };
        self.judge(source, |store, gate_id, direction, now, offline| {
            crate::gate::answer_and_admit(
                store, ticket_id, &answers, gate_id, direction, found_by, now, offline,
            )
        })
    }

    /// Runs one judgement at the picked gate and builds the verdict screen's outcome.
    fn judge(
        &self,
        source: ScanSource,
        run: impl FnOnce(
            &mut KioskStore,
            GateId,
            Direction,
            UnixMillis,
            bool,
        ) -> Result<crate::gate::ScanResult, crate::gate::GateError>,
    ) -> Result<ScanOutcome, AppError> {
        let settings = self.settings();
        let gate_id = settings.gate_id.ok_or(AppError::NoGate)?;
        let store = self.store()?;
        // Read before the store is locked (the sync handle's lock is never taken inside it).
        let offline = !self.is_online();
        let mut store = lock(&store);
        let now = (self.clock)();
        let result = run(&mut store, gate_id, settings.direction, now, offline)?;
        let ticket_type = match result.ticket_id {
            Some(id) => match store.ticket_by_id(id)? {
                Some(record) => store
                    .ticket_types()?
                    .into_iter()
                    .find(|t| t.id == record.ticket_type_id)
                    .map(|t| t.name),
                None => None,
            },
            None => None,
        };
        // The questions to ask when the gate needs answers first, and the answers it shows,
        // with their fields from the event's form.
        let form = if result.verdict.missing_answers.is_empty() && result.shown_answers.is_empty() {
            None
        } else {
            crate::walkin::current_form(&store)?
        };
        let field = |id: &str| form.as_ref()?.field(id).cloned();
        let questions = result
            .verdict
            .missing_answers
            .iter()
            .filter_map(|id| field(id))
            .collect();
        let answers = result
            .shown_answers
            .into_iter()
            .filter(|_| settings.show_names)
            .filter_map(|(id, value)| {
                Some(ShownAnswer {
                    field: field(&id)?,
                    value,
                })
            })
            .collect();
        let badge = match result.ticket_id {
            Some(id) if result.print_badge => Some(Box::new(badge_of(&store, id, result.seq)?)),
            _ => None,
        };
        drop(store);
        self.changed();
        let outcome = ScanOutcome {
            badge,
            questions,
            answers,
            verdict: result.verdict,
            ticket_id: result.ticket_id,
            attendee_name: result.attendee_name.filter(|_| settings.show_names),
            ticket_type,
            gate_id,
            direction: settings.direction,
            source,
            at: now,
            check_in_id: result.check_in_id,
            seq: result.seq,
        };
        emit(&self.events, KioskEvent::Scan(outcome.clone()));
        Ok(outcome)
    }

    /// Annuls this kiosk's own check-in made moments ago (a volunteer's mistake), then gives the
    /// new counts.
    pub fn annul_check_in(&self, check_in_id: CheckInId) -> Result<GateCounts, AppError> {
        let store = self.store()?;
        let mut guard = lock(&store);
        crate::gate::annul(&mut guard, check_in_id, (self.clock)())?;
        let counts = guard.gate_counts(self.settings().gate_id, (self.clock)())?;
        drop(guard);
        self.changed();
        Ok(counts)
    }

    /// Admission counts for the picked gate and the event.
    pub fn counts(&self) -> Result<GateCounts, AppError> {
        Ok(lock(&self.store()?).gate_counts(self.settings().gate_id, (self.clock)())?)
    }

    /// The form and ticket types of the walk-in screen.
    pub fn walk_in_setup(&self) -> Result<WalkInSetup, AppError> {
        let store = self.store()?;
        let store = lock(&store);
        if store.package_version()?.is_none() {
            return Err(AppError::NoPackage);
        }
        Ok(WalkInSetup {
            form: store.forms()?.into_iter().max_by_key(|f| f.version),
            ticket_types: store.ticket_types()?,
        })
    }

    /// Registers a walk-in and returns their badge; field problems come back one per field.
    pub fn register_walk_in(&self, request: WalkInRequest) -> Result<BadgeView, AppError> {
        let store = self.store()?;
        let mut store = lock(&store);
        let registration = crate::walkin::register(&mut store, request, (self.clock)())?;
        let ticket_type = store
            .ticket_types()?
            .into_iter()
            .find(|t| t.id == registration.ticket.ticket_type_id)
            .map(|t| t.name)
            .unwrap_or_default();
        let event_name = store.event()?.map(|e| e.name).unwrap_or_default();
        drop(store);
        self.changed();
        Ok(BadgeView {
            ticket_id: registration.ticket.id,
            ticket_type_id: registration.ticket.ticket_type_id,
            attendee_name: format!(
                "{} {}",
                registration.attendee.first_name, registration.attendee.last_name
            ),
            ticket_type,
            event_name,
            code: registration.ticket.code,
            qr_svg: registration.badge_svg,
            qr_version: registration.badge_qr_version,
            seq: registration.seq,
        })
    }

    /// Prints `ticket_id`'s badge again on a coordinator's request (the first print jammed, the
    /// badge was lost): recorded in the print log as a reprint at the picked gate.
    pub fn reprint_badge(&self, ticket_id: TicketId) -> Result<BadgeView, AppError> {
        let gate_id = self.settings().gate_id.ok_or(AppError::NoGate)?;
        let store = self.store()?;
        let mut store = lock(&store);
        let seq = crate::gate::reprint_badge(&mut store, ticket_id, gate_id, (self.clock)())?;
        let badge = badge_of(&store, ticket_id, seq)?;
        drop(store);
        self.changed();
        Ok(badge)
    }

    /// The outbox for the coordinator: counts and parked rejections.
    pub fn outbox(&self) -> Result<OutboxView, AppError> {
        let store = self.store()?;
        let store = lock(&store);
        let (pending, acknowledged, parked) = store.outbox_counts()?;
        let parked_changes = store
            .parked_changes()?
            .into_iter()
            .map(|(seq, kind, code, message)| ParkedChange {
                seq,
                kind,
                code,
                message,
            })
            .collect();
        Ok(OutboxView {
            pending,
            acknowledged,
            parked,
            dismissed: store.dismissed_count()?,
            parked_changes,
        })
    }

    /// Sends a parked change again with the next sync (the coordinator's "retry", for a change
    /// the server refused before it learned its kind or schema); then the new outbox.
    pub fn retry_parked(&self, seq: u64) -> Result<OutboxView, AppError> {
        if !lock(&self.store()?).retry_parked(seq)? {
            return Err(AppError::invalid("seq", format!("no parked change {seq}")));
        }
        self.changed();
        self.outbox()
    }

    /// Sets a parked change aside (the coordinator's "dismiss"): kept with its reason, no longer
    /// counted as parked; then the new outbox.
    pub fn dismiss_parked(&self, seq: u64) -> Result<OutboxView, AppError> {
        if !lock(&self.store()?).dismiss_parked(seq)? {
            return Err(AppError::invalid("seq", format!("no parked change {seq}")));
        }
        if let Some(handle) = self.sync_handle_call() {
            handle.refresh_counts();
        }
        self.outbox()
    }

    /// The event's open conflicts as the server reports them (needs the server), each named from
    /// this kiosk's package where it can be.
    pub async fn conflicts(&self) -> Result<ConflictsView, AppError> {
        let store = self.store()?;
        let client = SyncClient::for_store(&lock(&store))?;
        let open = client.open_conflicts().await?;
        let store = lock(&store);
        let ticket_types = store.ticket_types()?;
        let type_name = |id| {
            ticket_types
                .iter()
                .find(|t| t.id == id)
                .map(|t| t.name.clone())
        };
        let name_of = |attendee: &sync_protocol::model::Attendee| {
            format!("{} {}", attendee.first_name, attendee.last_name)
        };
        let mut conflicts = Vec::with_capacity(open.conflicts.len());
        for notice in open.conflicts {
            let mut subjects = Vec::new();
            for record in notice.records {
                // A record is a ticket, an attendee or a check-in (not shown: its ticket is).
                let ticket = match TicketId::from_uuid(record) {
                    Ok(id) => store.ticket_by_id(id)?,
                    Err(_) => None,
                };
                let attendee = match AttendeeId::from_uuid(record) {
                    Ok(id) if ticket.is_none() => store.attendee(id)?,
                    _ => None,
                };
                if let Some(ticket) = ticket {
                    subjects.push(ConflictSubject {
                        name: store.attendee(ticket.attendee_id)?.as_ref().map(name_of),
                        code: Some(ticket.code),
                        ticket_type: type_name(ticket.ticket_type_id),
                    });
                } else if let Some(attendee) = attendee {
                    subjects.push(ConflictSubject {
                        name: Some(name_of(&attendee)),
                        code: None,
                        ticket_type: None,
                    });
                }
            }
            conflicts.push(ConflictView {
                id: notice.id.to_string(),
                kind: notice.kind,
                at: notice.at.wall(),
                subjects,
            });
        }
        Ok(ConflictsView {
            conflicts,
            total_open: open.total_open,
        })
    }

    /// One sync now (push, then pull), reporting progress; serialised with the background sync.
    pub async fn sync_now(
        &self,
        progress: impl Fn(SyncProgress) + Send + 'static,
    ) -> Result<SyncReport, AppError> {
        let store = self.store()?;
        if let Some(handle) = self.sync_handle_call() {
            return Ok(handle.sync_now(progress).await?);
        }
        // No background sync: this one reports on the event stream itself.
        let client = SyncClient::for_store(&lock(&store))?;
        let report = client
            .sync_once(&store, reporting_progress(&self.events, progress))
            .await?;
        emit_synced(&self.events, &report);
        Ok(report)
    }

    /// Starts the background sync if the kiosk is unlocked and enrolled and it is not running.
    /// Returns a receiver of its status when it started one. Call it inside a tokio runtime.
    pub fn start_sync(
        &self,
        config: LoopConfig,
    ) -> Result<Option<tokio::sync::watch::Receiver<SyncStatus>>, AppError> {
        let store = self.store()?;
        let mut running = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        if running.is_some() {
            return Ok(None);
        }
        let client = match SyncClient::for_store(&lock(&store)) {
            Ok(client) => client,
            Err(crate::sync::SyncError::NotEnrolled) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let handle = SyncLoop::spawn(store, client, config, self.clock, self.events.clone());
        let status = handle.subscribe();
        *running = Some(Arc::new(handle));
        Ok(Some(status))
    }

    /// Stops the background sync and waits for it to end (a running sync stops between two
    /// requests, which the outbox makes safe). The store stays unlocked.
    pub async fn shut_down(&self) {
        let handle = self.sync.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            match Arc::try_unwrap(handle) {
                Ok(handle) => handle.shutdown().await,
                // A request still holds it: dropping the last one stops the loop.
                Err(shared) => drop(shared),
            }
        }
    }

    /// The background sync's status; without one running, what the store alone can say.
    pub fn sync_status(&self) -> Result<SyncStatus, AppError> {
        if let Some(status) = self
            .sync
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|h| h.status())
        {
            return Ok(status);
        }
        let store = self.store()?;
        let store = lock(&store);
        let (pending, acknowledged, parked) = store.outbox_counts()?;
        Ok(SyncStatus {
            pending,
            acknowledged,
            parked,
            package_version: store.package_version()?,
            ..SyncStatus::default()
        })
    }

    /// A handle to call the background sync through, without holding the lock across awaits.
    fn sync_handle_call(&self) -> Option<Arc<SyncHandle>> {
        self.sync.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Tells the background sync that a change was recorded (push it soon).
    fn changed(&self) {
        if let Some(handle) = self.sync.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            handle.notify_local_change();
        }
    }
}

/// The state shown when even reading the state failed after locking: the lock screen.
fn unreachable_state(settings: Settings) -> AppState {
    AppState {
        phase: Phase::Locked,
        event: None,
        device: None,
        package_version: None,
        gate: None,
        settings,
        kiosk_mode: false,
    }
}

/// The badge of a ticket this kiosk holds, for printing; `seq` is the outbox row that recorded
/// the print.
fn badge_of(store: &KioskStore, ticket_id: TicketId, seq: u64) -> Result<BadgeView, AppError> {
    let ticket = store
        .ticket_by_id(ticket_id)?
        .ok_or(crate::gate::GateError::UnknownTicket(ticket_id))?;
    let attendee = store.attendee(ticket.attendee_id)?;
    let ticket_type = store
        .ticket_types()?
        .into_iter()
        .find(|t| t.id == ticket.ticket_type_id)
        .map(|t| t.name)
        .unwrap_or_default();
    let event_name = store.event()?.map(|e| e.name).unwrap_or_default();
    let qr = crate::badge::render(&ticket.code, crate::badge::BADGE_QR_PX)
        .map_err(|e| AppError::Internal(format!("the badge cannot be drawn: {e}")))?;
    Ok(BadgeView {
        ticket_id,
        ticket_type_id: ticket.ticket_type_id,
        attendee_name: attendee
            .map(|a| format!("{} {}", a.first_name, a.last_name))
            .unwrap_or_default(),
        ticket_type,
        event_name,
        code: ticket.code,
        qr_svg: qr.svg,
        qr_version: qr.version,
        seq,
    })
}
