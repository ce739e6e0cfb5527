//! The kiosk as its screens use it (`kiosk_core::app::Kiosk`): first run, PINs, package import,
//! gate choice, scans and counts, walk-ins, settings, and the camera loop on a replay folder.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiosk_core::app::camera::{CameraLoop, CameraSink, Source};
use kiosk_core::app::{
    AppError, CameraStatus, ErrorKind, Kiosk, Phase, PreviewFrame, ScanOutcome, ScanSource,
};
use kiosk_core::store::Identity;
use kiosk_core::walkin::WalkInRequest;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::json;
use support::{Fixture, T};
use sync_protocol::UnixMillis;
use sync_protocol::certificate::DeviceCertificate;
use sync_protocol::crypto::{KdfParams, SecretKey, Signed};
use sync_protocol::ids::DeviceId;
use sync_protocol::model::Direction;
use sync_protocol::verdict::VerdictCode;

const KIOSK_PIN: &str = "24682468";
const COORDINATOR_PIN: &str = "97531";

fn clock() -> UnixMillis {
    T.plus_millis(3_600_000)
}

/// A kiosk set up in the fixture's folder and enrolled by hand (no server needed here).
fn set_up(f: &mut Fixture) -> Kiosk {
    let kiosk = Kiosk::open(&f.dir, KdfParams::FOR_TESTS)
        .unwrap()
        .with_clock(clock);
    assert_eq!(kiosk.state().unwrap().phase, Phase::Setup);
    let state = kiosk.set_up(KIOSK_PIN, COORDINATOR_PIN).unwrap();
    assert_eq!(state.phase, Phase::Enrol);

    let rng = &mut ChaCha20Rng::seed_from_u64(31);
    let me = DeviceId::new(T, rng);
    let my_key = SecretKey::generate(rng);
    let certificate = Signed::sign(
        &DeviceCertificate {
            device_id: me,
            event_id: f.event_id(),
            public_key: my_key.public_key(),
            label: "Gate 1".into(),
            gate_id: None,
            issued_at: T,
        },
        &f.key,
    );
    f.snapshot.certificates = vec![certificate.clone()];
    f.snapshot.normalize();
    kiosk
        .store()
        .unwrap()
        .lock()
        .unwrap()
        .save_identity(
            &Identity {
                device_id: me,
                event_id: f.event_id(),
                server_url: "http://127.0.0.1:9".into(),
                server_key: f.key.public_key(),
                gate_id: None,
                certificate,
                badge_certificate: None,
            },
            "device-token",
            &my_key,
        )
        .unwrap();
    assert_eq!(kiosk.state().unwrap().phase, Phase::Package);
    kiosk
}

fn ready(f: &mut Fixture) -> Kiosk {
    let kiosk = set_up(f);
    let applied = kiosk
        .import_package(&f.package(&f.snapshot, 1).to_bytes())
        .unwrap();
    assert_eq!((applied.version, applied.tickets), (1, 3));
    let gate = f.snapshot.gates[0].id;
    let state = kiosk.select_gate(gate).unwrap();
    assert_eq!(state.phase, Phase::Ready);
    assert_eq!(state.gate.map(|g| g.id), Some(gate));
    assert_eq!(state.event.unwrap().name, "Harbour Days");
    kiosk
}

#[test]
fn first_run_then_lock_and_unlock_with_the_kiosk_pin() {
    let mut f = Fixture::new("app-pins");
    let kiosk = set_up(&mut f);
    assert!(matches!(
        kiosk.set_up(KIOSK_PIN, COORDINATOR_PIN),
        Err(AppError::AlreadySetUp)
    ));

    assert_eq!(kiosk.lock().phase, Phase::Locked);
    assert!(matches!(kiosk.gates(), Err(AppError::Locked)));
    let wrong = kiosk.unlock("0000").unwrap_err();
    assert_eq!(wrong.to_ui().kind, ErrorKind::WrongPin);
    assert_eq!(wrong.to_ui().field.as_deref(), Some("pin"));
    // The coordinator PIN does not open the store; the kiosk PIN does, and nothing was lost.
    assert!(kiosk.unlock(COORDINATOR_PIN).is_err());
    assert_eq!(kiosk.unlock(KIOSK_PIN).unwrap().phase, Phase::Package);

    assert!(kiosk.check_coordinator_pin(COORDINATOR_PIN).is_ok());
    assert!(matches!(
        kiosk.check_coordinator_pin(KIOSK_PIN),
        Err(AppError::WrongPin)
    ));

    // A new PIN: a wrong old one changes nothing; then only the new one opens the store.
    assert!(matches!(
        kiosk.change_pin("0000", "97531975"),
        Err(AppError::WrongPin)
    ));
    kiosk.change_pin(KIOSK_PIN, "97531975").unwrap();
    kiosk.lock();
    assert!(kiosk.unlock(KIOSK_PIN).is_err());
    assert_eq!(kiosk.unlock("97531975").unwrap().phase, Phase::Package);
}

#[test]
fn first_run_refuses_bad_pins_before_creating_anything() {
    let f = Fixture::new("app-bad-pins");
    let kiosk = Kiosk::open(&f.dir, KdfParams::FOR_TESTS).unwrap();
    let same = kiosk.set_up("1234", "1234").unwrap_err().to_ui();
    assert_eq!(
        (same.kind, same.field.as_deref()),
        (ErrorKind::Invalid, Some("coordinator_pin"))
    );
    // The kiosk PIN protects the data against an offline search: eight characters at least.
    let short = kiosk.set_up("1234567", "1357").unwrap_err().to_ui();
    assert_eq!(
        (short.kind, short.field.as_deref()),
        (ErrorKind::Invalid, Some("pin"))
    );
    assert!(short.message.contains("8 to 64"), "{}", short.message);
    let short = kiosk.set_up("12345678", "135").unwrap_err().to_ui();
    assert_eq!(short.field.as_deref(), Some("coordinator_pin"));
    assert!(short.message.contains("4 to 64"), "{}", short.message);
    assert_eq!(kiosk.state().unwrap().phase, Phase::Setup);
}

#[test]
fn a_tampered_package_file_is_refused_and_the_current_one_stays() {
    let mut f = Fixture::new("app-package");
    let kiosk = ready(&mut f);
    let mut bytes = f.package(&f.snapshot, 2).to_bytes();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x55;
    let refused = kiosk.import_package(&bytes).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::PackageRefused);
    assert!(matches!(
        kiosk.import_package(b"not a package"),
        Err(AppError::PackageRefused(_))
    ));
    assert_eq!(kiosk.state().unwrap().package_version, Some(1));
}

#[test]
fn scans_at_the_picked_gate_count_and_name_the_ticket_type() {
    let mut f = Fixture::new("app-scan");
    let kiosk = ready(&mut f);
    let code = f.snapshot.tickets[1].code.clone();

    let first = kiosk.scan(code.as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(first.verdict.code, VerdictCode::Admitted);
    assert_eq!(first.ticket_type.as_deref(), Some("Day pass"));
    assert!(first.attendee_name.is_some());
    assert!(first.check_in_id.is_some());
    let again = kiosk.scan(code.as_bytes(), ScanSource::Typed).unwrap();
    assert_eq!(again.verdict.code, VerdictCode::AlreadyUsed);
    assert_eq!(again.check_in_id, None);
    let unknown = kiosk.scan(b"NOT-A-TICKET", ScanSource::Typed).unwrap();
    assert_eq!(unknown.verdict.code, VerdictCode::Unknown);

    let counts = kiosk.counts().unwrap();
    assert_eq!(
        (counts.gate_entries, counts.event_admitted, counts.tickets),
        (1, 1, 3)
    );
    // An exit at this entry-and-exit gate, then re-entry is allowed again.
    kiosk.set_direction(Direction::Exit).unwrap();
    let exit = kiosk.scan(code.as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(exit.verdict.code, VerdictCode::Admitted);
    assert_eq!(exit.direction, Direction::Exit);
    assert_eq!(kiosk.counts().unwrap().gate_exits, 1);
    assert_eq!(kiosk.outbox().unwrap().pending, 4);
}

#[test]
fn names_are_hidden_when_the_settings_say_so() {
    let mut f = Fixture::new("app-names");
    let kiosk = ready(&mut f);
    let mut settings = kiosk.settings();
    settings.show_names = false;
    kiosk.save_settings(settings).unwrap();
    let code = f.snapshot.tickets[2].code.clone();
    let outcome = kiosk.scan(code.as_bytes(), ScanSource::Typed).unwrap();
    assert_eq!(outcome.verdict.code, VerdictCode::Admitted);
    assert_eq!(outcome.attendee_name, None);
}

#[test]
fn settings_survive_a_restart_and_bad_ones_are_refused() {
    let mut f = Fixture::new("app-settings");
    let gate = {
        let kiosk = ready(&mut f);
        let mut settings = kiosk.settings();
        settings.language = "fr".into();
        settings.sound = false;
        settings.desk_lock_minutes = 5;
        settings.badge_printer = Some("Zebra_ZD421".into());
        kiosk.save_settings(settings.clone()).unwrap();
        for minutes in [0, 61] {
            let mut idle = settings.clone();
            idle.desk_lock_minutes = minutes;
            let refused = kiosk.save_settings(idle).unwrap_err().to_ui();
            assert_eq!(refused.field.as_deref(), Some("desk_lock_minutes"));
        }
        let long = "P".repeat(128);
        for printer in ["", "two words", "a/b", "bell\u{7}", long.as_str()] {
            let mut bad = settings.clone();
            bad.badge_printer = Some(printer.into());
            let refused = kiosk.save_settings(bad).unwrap_err().to_ui();
            assert_eq!(
                refused.field.as_deref(),
                Some("badge_printer"),
                "{printer:?}"
            );
        }
        settings.language = "xx".into();
        let refused = kiosk.save_settings(settings).unwrap_err().to_ui();
        assert_eq!(refused.field.as_deref(), Some("language"));
        kiosk.settings().gate_id
    };
    let kiosk = Kiosk::open(&f.dir, KdfParams::FOR_TESTS).unwrap();
    let state = kiosk.state().unwrap();
    assert_eq!(state.phase, Phase::Locked);
    assert_eq!(state.settings.language, "fr");
    assert!(!state.settings.sound);
    assert_eq!(state.settings.desk_lock_minutes, 5);
    assert_eq!(state.settings.badge_printer.as_deref(), Some("Zebra_ZD421"));
    assert_eq!(state.settings.gate_id, gate);
    // Settings are readable before unlocking; the gate itself needs the store.
    assert!(state.gate.is_none());
    assert!(kiosk.unlock(KIOSK_PIN).unwrap().gate.is_some());
}

#[test]
fn scanning_needs_a_gate() {
    let mut f = Fixture::new("app-no-gate");
    let kiosk = set_up(&mut f);
    kiosk
        .import_package(&f.package(&f.snapshot, 1).to_bytes())
        .unwrap();
    let refused = kiosk.scan(b"SECRET-CODE-1", ScanSource::Typed).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NoGate);
}

#[test]
fn a_walk_in_gets_field_errors_then_a_badge_admitted_at_the_gate() {
    let mut f = Fixture::new("app-walkin");
    f.snapshot.forms = vec![serde_json::from_value(json!({
        "id": "01890a5d-ac96-774b-bcce-b302099a8057",
        "version": 1,
        "title": "Walk-in",
        "pages": [{ "id": "p", "title": "About you", "sections": [{ "id": "s", "title": "", "fields": [
            { "id": "company", "label": "Company", "kind": "text", "required": true }
        ]}]}]
    }))
    .unwrap()];
    let kiosk = ready(&mut f);
    let setup = kiosk.walk_in_setup().unwrap();
    assert_eq!(setup.form.as_ref().map(|f| f.version), Some(1));
    assert_eq!(setup.ticket_types.len(), 1);

    let refused = kiosk
        .register_walk_in(WalkInRequest {
            first_name: "  ".into(),
            last_name: "Noether".into(),
            ..Default::default()
        })
        .unwrap_err()
        .to_ui();
    assert_eq!(refused.kind, ErrorKind::Fields);
    let fields: Vec<&str> = refused.fields.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"first_name"), "{fields:?}");
    assert!(fields.contains(&"company"), "{fields:?}");

    let badge = kiosk
        .register_walk_in(WalkInRequest {
            first_name: "Emmy".into(),
            last_name: "Noether".into(),
            answers: [("company".to_owned(), json!("Erlangen"))].into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(badge.attendee_name, "Emmy Noether");
    assert_eq!(badge.ticket_type, "Day pass");
    assert_eq!(badge.event_name, "Harbour Days");
    assert!(badge.qr_svg.contains("<svg"));
    let outcome = kiosk
        .scan(badge.code.as_bytes(), ScanSource::Wedge)
        .unwrap();
    assert_eq!(outcome.verdict.code, VerdictCode::Admitted);
    assert_eq!(outcome.attendee_name.as_deref(), Some("Emmy Noether"));
}

#[test]
fn errors_reach_the_screen_as_kind_message_field() {
    let error = AppError::invalid("server_url", "starts with https://");
    let json = serde_json::to_value(&error).unwrap();
    assert_eq!(
        json,
        json!({ "kind": "invalid", "message": "starts with https://", "field": "server_url", "fields": [] })
    );
}

/// Collects what the camera loop reports.
#[derive(Default)]
struct Collected {
    previews: Mutex<Vec<PreviewFrame>>,
    scans: Mutex<Vec<Result<ScanOutcome, String>>>,
    statuses: Mutex<Vec<CameraStatus>>,
}

impl CameraSink for Collected {
    fn preview(&self, frame: PreviewFrame) {
        self.previews.lock().unwrap().push(frame);
    }
    fn scanned(&self, outcome: Result<ScanOutcome, AppError>) {
        self.scans
            .lock()
            .unwrap()
            .push(outcome.map_err(|e| e.to_string()));
    }
    fn status(&self, status: CameraStatus) {
        self.statuses.lock().unwrap().push(status);
    }
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_camera_loop_judges_a_badge_once_and_sends_previews() {
    let mut f = Fixture::new("app-camera");
    let kiosk = Arc::new(ready(&mut f));
    let replay = f.dir.join("replay");
    std::fs::create_dir_all(&replay).unwrap();
    let code = f.snapshot.tickets[1].code.clone();
    let qr = qrcode::QrCode::new(code.as_bytes()).unwrap();
    qr.render::<image::Luma<u8>>()
        .min_dimensions(300, 300)
        .build()
        .save(replay.join("badge.png"))
        .unwrap();

    let sink = Arc::new(Collected::default());
    let camera = CameraLoop::start(
        kiosk.clone(),
        Source::Replay {
            dir: replay,
            fps: 30.0,
        },
        sink.clone(),
    )
    .unwrap();
    wait_for("a scan and a few previews", || {
        !sink.scans.lock().unwrap().is_empty() && sink.previews.lock().unwrap().len() >= 3
    });
    camera.stop();

    // The badge stayed in view the whole time: judged once, admitted.
    let scans = sink.scans.lock().unwrap();
    assert_eq!(scans.len(), 1, "{scans:?}");
    let outcome = scans[0].as_ref().unwrap();
    assert_eq!(outcome.verdict.code, VerdictCode::Admitted);
    assert_eq!(outcome.source, ScanSource::Camera);
    let preview = &sink.previews.lock().unwrap()[0];
    assert!(preview.image.starts_with("data:image/jpeg;base64,"));
    assert!(preview.width > 0 && preview.width <= kiosk_core::app::camera::PREVIEW_WIDTH);
    assert_eq!(preview.width, preview.height, "a square badge stays square");
    // The code's outline, in the preview's pixels: four corners inside it, around its middle
    // (the badge image is the code alone, centred).
    let outline = preview.outline.as_ref().expect("the read code's outline");
    assert_eq!(outline.len(), 4, "{outline:?}");
    let size = preview.width as f32;
    for corner in outline {
        assert!(
            (0.0..=size).contains(&corner.x) && (0.0..=size).contains(&corner.y),
            "{outline:?}"
        );
    }
    let middle_x = outline.iter().map(|c| c.x).sum::<f32>() / 4.0;
    let middle_y = outline.iter().map(|c| c.y).sum::<f32>() / 4.0;
    assert!((middle_x - size / 2.0).abs() < size / 10.0, "{outline:?}");
    assert!((middle_y - size / 2.0).abs() < size / 10.0, "{outline:?}");
    let width = outline.iter().map(|c| c.x).fold(f32::MIN, f32::max)
        - outline.iter().map(|c| c.x).fold(f32::MAX, f32::min);
    assert!(
        width > size / 3.0,
        "the outline spans the code: {outline:?}"
    );
    let statuses = sink.statuses.lock().unwrap();
    assert!(matches!(
        statuses.first(),
        Some(CameraStatus::Running { .. })
    ));
    assert_eq!(statuses.last(), Some(&CameraStatus::Stopped));
    assert_eq!(kiosk.counts().unwrap().gate_entries, 1);
}

#[test]
fn a_missing_replay_folder_is_reported_not_a_crash() {
    let mut f = Fixture::new("app-camera-missing");
    let kiosk = Arc::new(ready(&mut f));
    let sink = Arc::new(Collected::default());
    let _camera = CameraLoop::start(
        kiosk,
        Source::Replay {
            dir: f.dir.join("no-such-folder"),
            fps: 30.0,
        },
        sink.clone(),
    )
    .unwrap();
    wait_for("a camera status", || {
        !sink.statuses.lock().unwrap().is_empty()
    });
    let statuses = sink.statuses.lock().unwrap();
    assert!(
        matches!(statuses[0], CameraStatus::Failed { .. }),
        "{statuses:?}"
    );
}

#[test]
fn a_volunteer_can_undo_an_admission_moments_later() {
    let mut f = Fixture::new("app-annul");
    let kiosk = ready(&mut f);
    let code = f.snapshot.tickets[1].code.clone();
    let admitted = kiosk.scan(code.as_bytes(), ScanSource::Wedge).unwrap();
    let counts = kiosk.annul_check_in(admitted.check_in_id.unwrap()).unwrap();
    assert_eq!(counts.gate_entries, 0);
    // The ticket admits again, and a second undo of the same check-in is refused.
    let again = kiosk.scan(code.as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(again.verdict.code, VerdictCode::Admitted);
    let refused = kiosk
        .annul_check_in(admitted.check_in_id.unwrap())
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Invalid);
}

/// The last change this kiosk recorded, as it will be pushed.
fn last_change(kiosk: &Kiosk) -> sync_protocol::changes::ChangeBody {
    let store = kiosk.store().unwrap();
    let store = store.lock().unwrap();
    let pending = store.pending_changes(1000).unwrap();
    pending.last().unwrap().body().unwrap()
}

#[test]
fn a_guest_without_a_badge_is_found_by_name_and_admitted_from_the_list() {
    use sync_protocol::changes::{ChangeBody, FoundBy};
    use sync_protocol::model::TicketStatus;

    let mut f = Fixture::new("app-search");
    let kiosk = ready(&mut f);
    let grace = f
        .snapshot
        .tickets
        .iter()
        .find(|t| t.code == "SECRET-CODE-1")
        .unwrap()
        .id;

    // By name (any case, part of a word), by email, by part of the code.
    for query in ["grace", "HOPPER", "grace hop", "grace@example", "CODE-1"] {
        let found = kiosk.search_guests(query, 10).unwrap();
        assert_eq!(found.total, 1, "{query}");
        let hit = &found.hits[0];
        assert_eq!(
            (hit.ticket_id, hit.name.as_str()),
            (grace, "Grace Hopper"),
            "{query}"
        );
        assert_eq!(hit.ticket_type.as_deref(), Some("Day pass"));
        assert_eq!(hit.email.as_deref(), Some("grace@example.org"));
        assert_eq!(
            (hit.status, hit.entries, hit.last_entry_at),
            (TicketStatus::Valid, 0, None)
        );
    }
    assert_eq!(kiosk.search_guests("example.org", 10).unwrap().total, 3);
    assert_eq!(kiosk.search_guests("nobody", 10).unwrap().total, 0);
    assert_eq!(kiosk.search_guests("", 10).unwrap().total, 0);

    // Admitted from the list: the same rules as a scan, and the check-in says how it was found.
    let outcome = kiosk.admit_found(grace).unwrap();
    assert_eq!(outcome.verdict.code, VerdictCode::Admitted);
    assert_eq!(outcome.source, ScanSource::Search);
    assert_eq!(outcome.attendee_name.as_deref(), Some("Grace Hopper"));
    let ChangeBody::CheckIn(check_in) = last_change(&kiosk) else {
        panic!("a check-in was recorded")
    };
    assert_eq!(
        (check_in.ticket_id, check_in.found_by),
        (grace, FoundBy::Search)
    );
    let hit = kiosk.search_guests("grace", 10).unwrap().hits.remove(0);
    assert_eq!((hit.entries, hit.last_entry_at.is_some()), (1, true));

    // Picked again while inside: refused as a second scan would be, and recorded as such.
    let again = kiosk.admit_found(grace).unwrap();
    assert!(!again.verdict.code.admits(), "{:?}", again.verdict);
    let ChangeBody::FailedScan(failed) = last_change(&kiosk) else {
        panic!("a failed scan was recorded")
    };
    assert_eq!(
        (failed.ticket_id, failed.found_by),
        (Some(grace), FoundBy::Search)
    );
    assert_eq!(failed.scanned_text, "");

    // A scanned code still says it was read.
    let ada = &f
        .snapshot
        .tickets
        .iter()
        .find(|t| t.code.starts_with("GP1:"))
        .unwrap()
        .code;
    kiosk.scan(ada.as_bytes(), ScanSource::Camera).unwrap();
    let ChangeBody::CheckIn(scanned) = last_change(&kiosk) else {
        panic!("a check-in was recorded")
    };
    assert_eq!(scanned.found_by, FoundBy::Code);
    assert!(
        !serde_json::to_string(&scanned)
            .unwrap()
            .contains("found_by"),
        "a read code keeps the wire form it always had"
    );

    // A ticket the kiosk does not hold is an error, not a verdict.
    let unknown = sync_protocol::ids::TicketId::new(T, &mut ChaCha20Rng::seed_from_u64(99));
    assert_eq!(
        kiosk.admit_found(unknown).unwrap_err().to_ui().kind,
        ErrorKind::Invalid
    );
}

#[test]
fn the_search_sees_new_walk_ins_survives_a_lock_and_never_reaches_the_disk() {
    let mut f = Fixture::new("app-search-walkin");
    let kiosk = ready(&mut f);
    assert_eq!(kiosk.search_guests("noether", 10).unwrap().total, 0);
    kiosk
        .register_walk_in(WalkInRequest {
            first_name: "Emmy".into(),
            last_name: "Noether".into(),
            ..Default::default()
        })
        .unwrap();
    // The index built by the search above is dropped with the new guest.
    let found = kiosk.search_guests("emmy noe", 10).unwrap();
    assert_eq!(found.hits.len(), 1);
    assert_eq!(found.hits[0].name, "Emmy Noether");

    // Locked: no search; unlocked: built again from the store.
    kiosk.lock();
    assert!(matches!(
        kiosk.search_guests("grace", 10),
        Err(AppError::Locked)
    ));
    kiosk.unlock(KIOSK_PIN).unwrap();
    assert_eq!(kiosk.search_guests("grace", 10).unwrap().total, 1);
    assert_eq!(kiosk.search_guests("emmy", 10).unwrap().total, 1);

    // Nothing the search holds was written out in plaintext.
    let raw = f.raw_bytes();
    for text in ["Hopper", "hopper", "Noether", "noether", "grace@example"] {
        assert!(
            !raw.windows(text.len()).any(|w| w == text.as_bytes()),
            "{text} is on disk in plaintext"
        );
    }
}

#[test]
fn a_kiosk_that_hides_names_offers_no_search() {
    let mut f = Fixture::new("app-search-hidden");
    let kiosk = ready(&mut f);
    let mut settings = kiosk.settings();
    settings.show_names = false;
    kiosk.save_settings(settings).unwrap();
    let refused = kiosk.search_guests("grace", 10).unwrap_err().to_ui();
    assert_eq!(refused.kind, ErrorKind::Invalid);
    assert_eq!(refused.field.as_deref(), Some("query"));
}

#[test]
fn counts_tell_this_kiosks_own_entries_from_all_and_who_is_inside() {
    let mut f = Fixture::new("app-counts");
    let kiosk = ready(&mut f);
    let code = |i: usize| f.snapshot.tickets[i].code.clone();
    assert_eq!(
        kiosk
            .scan(code(1).as_bytes(), ScanSource::Wedge)
            .unwrap()
            .verdict
            .code,
        VerdictCode::Admitted
    );
    assert_eq!(
        kiosk
            .scan(code(0).as_bytes(), ScanSource::Wedge)
            .unwrap()
            .verdict
            .code,
        VerdictCode::Admitted
    );

    // Another kiosk at the same gate admitted the third guest: it arrives with a sync.
    pull_check_in(&f, &kiosk, 2, clock(), 77);
    let counts = kiosk.counts().unwrap();
    assert_eq!((counts.gate_entries, counts.own_gate_entries), (3, 2));
    assert_eq!((counts.event_admitted, counts.inside), (3, 3));
    assert_eq!(
        (
            counts.gate_entries_today,
            counts.own_gate_entries_today,
            counts.event_admitted_today
        ),
        (3, 2, 3)
    );

    // One leaves: inside drops, admitted (distinct tickets ever admitted) does not.
    kiosk.set_direction(Direction::Exit).unwrap();
    kiosk.scan(code(1).as_bytes(), ScanSource::Wedge).unwrap();
    let counts = kiosk.counts().unwrap();
    assert_eq!(
        (counts.gate_exits, counts.inside, counts.event_admitted),
        (1, 2, 3)
    );

    // An admission undone at once no longer counts anywhere.
    kiosk.set_direction(Direction::Entry).unwrap();
    let back = kiosk.scan(code(1).as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(back.verdict.code, VerdictCode::Admitted);
    assert_eq!(kiosk.counts().unwrap().inside, 3);
    let counts = kiosk.annul_check_in(back.check_in_id.unwrap()).unwrap();
    assert_eq!(
        (counts.inside, counts.gate_entries, counts.own_gate_entries),
        (2, 3, 2)
    );
    assert_eq!(
        (
            counts.gate_entries_today,
            counts.own_gate_entries_today,
            counts.gate_exits_today
        ),
        (3, 2, 1)
    );
}

/// A check-in another kiosk made at `at` at `gate` for ticket `i`, as a pull brings it.
fn pull_check_in(f: &Fixture, kiosk: &Kiosk, i: usize, at: UnixMillis, seed: u64) {
    use sync_protocol::changes::{Change, ChangeBody, CheckIn, FoundBy};
    use sync_protocol::hlc::Hlc;
    use sync_protocol::ids::{ChangeId, CheckInId};
    use sync_protocol::wire::{Cursor, PullItem};

    let rng = &mut ChaCha20Rng::seed_from_u64(seed);
    let body = ChangeBody::CheckIn(CheckIn {
        id: CheckInId::new(at, rng),
        ticket_id: f.snapshot.tickets[i].id,
        gate_id: f.snapshot.gates[0].id,
        direction: Direction::Entry,
        verdict: VerdictCode::Admitted,
        offline: false,
        scanned_at: at,
        found_by: FoundBy::Code,
    });
    let change = Change::new(
        ChangeId::new(at, rng),
        DeviceId::new(T, rng),
        1,
        Hlc::new(at.as_u64(), 0),
        1,
        &body,
    );
    let position = Cursor {
        tx: seed,
        pos: seed,
    };
    kiosk
        .store()
        .unwrap()
        .lock()
        .unwrap()
        .apply_pull_page(&[PullItem::DeviceChange { position, change }], position)
        .unwrap();
}

#[test]
fn admitted_today_counts_the_venue_day_and_starts_again_at_midnight() {
    let mut f = Fixture::new("app-counts-today");
    let kiosk = ready(&mut f);
    let gate = f.snapshot.gates[0].id;
    // The kiosk's clock reads 2026-09-21 15:13 UTC, 17:13 at the venue (Europe/Berlin, UTC+2).
    let at = |rfc3339: &str| {
        UnixMillis(
            chrono::DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .timestamp_millis() as u64,
        )
    };
    let code = |i: usize| f.snapshot.tickets[i].code.clone();
    for i in [0, 1] {
        let outcome = kiosk.scan(code(i).as_bytes(), ScanSource::Wedge).unwrap();
        assert_eq!(outcome.verdict.code, VerdictCode::Admitted);
    }
    // Other kiosks' check-ins: 23:30 at the venue the evening before (yesterday), and 00:30 at
    // the venue today, which is still the 20th in UTC (the first guest, who came back later).
    pull_check_in(&f, &kiosk, 2, at("2026-09-20T21:30:00Z"), 81);
    pull_check_in(&f, &kiosk, 0, at("2026-09-20T22:30:00Z"), 82);

    let counts = kiosk.counts().unwrap();
    assert_eq!((counts.gate_entries, counts.event_admitted), (4, 3));
    assert_eq!(
        (
            counts.gate_entries_today,
            counts.own_gate_entries_today,
            counts.event_admitted_today
        ),
        (3, 2, 2),
        "yesterday's check-in is not today's: {counts:?}"
    );

    // Past midnight at the venue, today starts at zero; the totals stay.
    let store = kiosk.store().unwrap();
    let tomorrow = store
        .lock()
        .unwrap()
        .gate_counts(Some(gate), at("2026-09-21T22:00:00Z"))
        .unwrap();
    assert_eq!(
        (
            tomorrow.gate_entries_today,
            tomorrow.own_gate_entries_today,
            tomorrow.event_admitted_today,
            tomorrow.gate_entries
        ),
        (0, 0, 0, 4)
    );
    let yesterday = store
        .lock()
        .unwrap()
        .gate_counts(Some(gate), at("2026-09-20T12:00:00Z"))
        .unwrap();
    assert_eq!(
        (yesterday.gate_entries_today, yesterday.event_admitted_today),
        (1, 1)
    );
    drop(store);

    // Back on today: an exit, a re-entry and its undoing count at once (the rows written since
    // the last count are read, not the whole table).
    kiosk.set_direction(Direction::Exit).unwrap();
    kiosk.scan(code(1).as_bytes(), ScanSource::Wedge).unwrap();
    kiosk.set_direction(Direction::Entry).unwrap();
    let back = kiosk.scan(code(1).as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(back.verdict.code, VerdictCode::Admitted);
    let counts = kiosk.counts().unwrap();
    assert_eq!(
        (
            counts.gate_entries_today,
            counts.own_gate_entries_today,
            counts.gate_exits_today
        ),
        (4, 3, 1)
    );
    let counts = kiosk.annul_check_in(back.check_in_id.unwrap()).unwrap();
    assert_eq!(
        (
            counts.gate_entries_today,
            counts.own_gate_entries_today,
            counts.event_admitted_today
        ),
        (3, 2, 2)
    );

    // The day's counts come back from the file after a lock and an unlock.
    kiosk.lock();
    kiosk.unlock(KIOSK_PIN).unwrap();
    let again = kiosk.counts().unwrap();
    assert_eq!(again, counts);
}

/// The event's form with the two questions the workshop gate asks, and that gate.
fn with_workshop_questions(f: &mut Fixture) -> sync_protocol::ids::GateId {
    let form: sync_protocol::forms::Form = serde_json::from_value(json!({
        "id": "01890a5d-ac96-774b-bcce-b302099a8057",
        "version": 1,
        "title": "Registration",
        "pages": [{ "id": "p", "sections": [{ "id": "s", "fields": [
            { "id": "consent", "label": "I accept the workshop's safety rules", "kind": "checkbox" },
            { "id": "diet", "label": "Diet", "kind": "single_choice",
              "choices": [{ "id": "none", "label": "None" }, { "id": "vegan", "label": "Vegan" }] },
            { "id": "company", "label": "Company", "kind": "text" }
        ]}]}]
    }))
    .unwrap();
    let mut workshop = f.snapshot.gates[0].clone();
    workshop.id = sync_protocol::ids::GateId::new(T, &mut ChaCha20Rng::seed_from_u64(5));
    workshop.name = "Workshop".into();
    workshop.reentry = sync_protocol::model::Reentry::Always;
    workshop.required_answers = vec!["consent".into(), "diet".into()];
    workshop.show_answers = vec!["diet".into(), "company".into()];
    f.snapshot.forms = vec![form];
    f.snapshot.gates.push(workshop.clone());
    f.snapshot.normalize();
    workshop.id
}

#[test]
fn a_gate_that_needs_answers_asks_them_keeps_them_and_then_admits() {
    use sync_protocol::changes::{ChangeBody, FoundBy};
    use sync_protocol::forms::FieldErrorCode;

    let mut f = Fixture::new("app-questions");
    let workshop = with_workshop_questions(&mut f);
    let kiosk = set_up(&mut f);
    kiosk
        .import_package(&f.package(&f.snapshot, 1).to_bytes())
        .unwrap();
    kiosk.select_gate(workshop).unwrap();
    let grace = f
        .snapshot
        .tickets
        .iter()
        .find(|t| t.code == "SECRET-CODE-1")
        .unwrap()
        .clone();

    // The scan stops at the questions, and names them as the form defines them.
    let asked = kiosk
        .scan(grace.code.as_bytes(), ScanSource::Wedge)
        .unwrap();
    assert_eq!(asked.verdict.code, VerdictCode::NeedsAnswers);
    assert_eq!(asked.verdict.missing_answers, ["consent", "diet"]);
    let labels: Vec<&str> = asked.questions.iter().map(|q| q.label.as_str()).collect();
    assert_eq!(labels, ["I accept the workshop's safety rules", "Diet"]);
    assert_eq!(asked.check_in_id, None);

    // Wrong answers: one problem per question, nothing kept, nobody admitted.
    let answers = |v: serde_json::Value| serde_json::from_value(v).unwrap();
    let refused = kiosk
        .answer_questions(
            grace.id,
            answers(json!({"consent": false, "diet": "steak", "company": "ACME"})),
            ScanSource::Wedge,
        )
        .unwrap_err()
        .to_ui();
    assert_eq!(refused.kind, ErrorKind::Fields);
    let codes: Vec<(&str, FieldErrorCode)> = refused
        .fields
        .iter()
        .map(|e| (e.field.as_str(), e.code))
        .collect();
    assert_eq!(
        codes,
        [
            ("consent", FieldErrorCode::MustAccept),
            ("diet", FieldErrorCode::InvalidChoice),
            ("company", FieldErrorCode::UnknownField)
        ]
    );
    assert!(matches!(last_change(&kiosk), ChangeBody::FailedScan(_)));

    // Answered: kept with the guest (an edit for the server), then admitted in the same step.
    let admitted = kiosk
        .answer_questions(
            grace.id,
            answers(json!({"consent": true, "diet": "vegan"})),
            ScanSource::Wedge,
        )
        .unwrap();
    assert_eq!(
        admitted.verdict.code,
        VerdictCode::Admitted,
        "{:?}",
        admitted.verdict
    );
    assert!(admitted.questions.is_empty());
    let store = kiosk.store().unwrap();
    let pending = store.lock().unwrap().pending_changes(1000).unwrap();
    let bodies: Vec<ChangeBody> = pending.iter().map(|c| c.body().unwrap()).collect();
    let [
        ..,
        ChangeBody::AttendeeEdit(edit),
        ChangeBody::CheckIn(check_in),
    ] = &bodies[..]
    else {
        panic!("an edit then a check-in: {bodies:?}")
    };
    assert_eq!(edit.attendee_id, grace.attendee_id);
    let fields: Vec<(&str, &serde_json::Value, bool)> = edit
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), &v.value, v.seen.is_none()))
        .collect();
    assert_eq!(
        fields,
        [
            ("answers.consent", &json!(true), true),
            ("answers.diet", &json!("vegan"), true)
        ]
    );
    assert_eq!(
        (check_in.ticket_id, check_in.found_by),
        (grace.id, FoundBy::Code)
    );

    // The answers stay with the guest, even after a package that does not hold them yet.
    kiosk
        .import_package(&f.package(&f.snapshot, 2).to_bytes())
        .unwrap();
    let again = kiosk
        .scan(grace.code.as_bytes(), ScanSource::Wedge)
        .unwrap();
    assert_eq!(
        again.verdict.code,
        VerdictCode::Admitted,
        "{:?}",
        again.verdict
    );
    // The gate shows the diet (the company was never answered: not shown).
    let shown: Vec<(&str, &serde_json::Value)> = again
        .answers
        .iter()
        .map(|a| (a.field.label.as_str(), &a.value))
        .collect();
    assert_eq!(shown, [("Diet", &json!("vegan"))]);
    let kept = store
        .lock()
        .unwrap()
        .attendee(grace.attendee_id)
        .unwrap()
        .unwrap();
    assert_eq!(kept.answers.get("diet"), Some(&json!("vegan")));
    assert_eq!(
        kept.first_name, "Grace",
        "the rest of the guest is the package's"
    );

    // Another kiosk's answers for the next guest arrive with a sync: no questions for her here.
    // An older version of the same answer arriving later does not undo the newer one.
    let katherine = f
        .snapshot
        .tickets
        .iter()
        .find(|t| t.code == "SECRET-CODE-2")
        .unwrap()
        .clone();
    let rng = &mut ChaCha20Rng::seed_from_u64(78);
    let other = DeviceId::new(T, rng);
    let edit = |diet: &str, wall: u64, seq: u64, rng: &mut ChaCha20Rng| {
        let body = ChangeBody::AttendeeEdit(sync_protocol::changes::AttendeeEdit {
            attendee_id: katherine.attendee_id,
            fields: [
                ("answers.consent".to_owned(), json!(true)),
                ("answers.diet".to_owned(), json!(diet)),
            ]
            .into_iter()
            .map(|(k, value)| (k, sync_protocol::changes::FieldEdit { value, seen: None }))
            .collect(),
        });
        sync_protocol::changes::Change::new(
            sync_protocol::ids::ChangeId::new(T, rng),
            other,
            seq,
            sync_protocol::hlc::Hlc::new(wall, 0),
            1,
            &body,
        )
    };
    let newer = edit("vegan", clock().as_u64(), 2, rng);
    let older = edit("none", clock().as_u64() - 60_000, 1, rng);
    for (pos, change) in [(1, newer), (2, older)] {
        let position = sync_protocol::wire::Cursor { tx: 1, pos };
        let page = [sync_protocol::wire::PullItem::DeviceChange { position, change }];
        let applied = store
            .lock()
            .unwrap()
            .apply_pull_page(&page, position)
            .unwrap();
        assert_eq!(applied.attendee_edits, 1);
    }
    let answered = kiosk
        .scan(katherine.code.as_bytes(), ScanSource::Wedge)
        .unwrap();
    assert_eq!(
        answered.verdict.code,
        VerdictCode::Admitted,
        "{:?}",
        answered.verdict
    );
    let katherine_now = store
        .lock()
        .unwrap()
        .attendee(katherine.attendee_id)
        .unwrap()
        .unwrap();
    assert_eq!(katherine_now.answers.get("diet"), Some(&json!("vegan")));

    // A later edit here names the version it replaced.
    let stamps = store
        .lock()
        .unwrap()
        .field_stamps(katherine.attendee_id)
        .unwrap();
    assert_eq!(
        stamps.get("answers.diet"),
        Some(&sync_protocol::hlc::Hlc::new(clock().as_u64(), 0))
    );
}

/// The fixture's gate set to print badges as `printing` says, before the package is made.
fn printing_gate(f: &mut Fixture, printing: sync_protocol::model::BadgePrinting) {
    f.snapshot.gates[0].print_badge = printing;
    f.snapshot.normalize();
}

/// The last change as a badge print (panics on any other kind).
fn last_print(kiosk: &Kiosk) -> sync_protocol::changes::BadgePrint {
    match last_change(kiosk) {
        sync_protocol::changes::ChangeBody::BadgePrint(p) => p,
        other => panic!("the last change is not a print: {other:?}"),
    }
}

#[test]
fn a_first_badge_gate_prints_each_guest_once_and_a_coordinator_can_reprint() {
    use sync_protocol::model::BadgePrinting;
    let mut f = Fixture::new("app-print-first");
    printing_gate(&mut f, BadgePrinting::First);
    let kiosk = ready(&mut f);
    let ada = f.snapshot.tickets[0].clone();
    let grace = f.snapshot.tickets[1].clone();

    let admitted = kiosk.scan(ada.code.as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(admitted.verdict.code, VerdictCode::Admitted);
    let badge = admitted
        .badge
        .expect("the first admission prints the badge");
    assert_eq!((badge.ticket_id, &badge.code), (ada.id, &ada.code));
    assert_eq!(badge.ticket_type, "Day pass");
    assert_eq!(badge.event_name, "Harbour Days");
    assert!(!badge.attendee_name.is_empty());
    assert!(badge.qr_svg.contains("<svg"));
    let print = last_print(&kiosk);
    assert_eq!(print.ticket_id, ada.id);
    assert_eq!(print.gate_id, f.snapshot.gates[0].id);
    assert_eq!(print.check_in_id, admitted.check_in_id);
    assert!(!print.reprint);

    // Refused scans, exits and later entries print nothing.
    let refused = kiosk.scan(ada.code.as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(refused.verdict.code, VerdictCode::AlreadyUsed);
    assert!(refused.badge.is_none());
    kiosk.set_direction(Direction::Exit).unwrap();
    assert!(
        kiosk
            .scan(ada.code.as_bytes(), ScanSource::Wedge)
            .unwrap()
            .badge
            .is_none()
    );
    kiosk.set_direction(Direction::Entry).unwrap();
    let back = kiosk.scan(ada.code.as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(back.verdict.code, VerdictCode::Admitted);
    assert!(back.badge.is_none(), "a badge is printed once only");
    // An undone admission that is scanned again does not print again either.
    let first = kiosk
        .scan(grace.code.as_bytes(), ScanSource::Wedge)
        .unwrap();
    assert!(first.badge.is_some());
    kiosk.annul_check_in(first.check_in_id.unwrap()).unwrap();
    let again = kiosk
        .scan(grace.code.as_bytes(), ScanSource::Wedge)
        .unwrap();
    assert_eq!(again.verdict.code, VerdictCode::Admitted);
    assert!(again.badge.is_none());

    // A coordinator's reprint: the badge again, logged as a reprint.
    let reprinted = kiosk.reprint_badge(ada.id).unwrap();
    assert_eq!(reprinted.code, ada.code);
    let print = last_print(&kiosk);
    assert!(print.reprint);
    assert_eq!((print.ticket_id, print.check_in_id), (ada.id, None));
    let unknown = kiosk
        .reprint_badge(sync_protocol::ids::TicketId::new(
            T,
            &mut ChaCha20Rng::seed_from_u64(99),
        ))
        .unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::Invalid);

    // What was printed is kept across a restart.
    drop(kiosk);
    let kiosk = Kiosk::open(&f.dir, KdfParams::FOR_TESTS)
        .unwrap()
        .with_clock(clock);
    kiosk.unlock(KIOSK_PIN).unwrap();
    let third = f.snapshot.tickets[2].clone();
    assert!(
        kiosk
            .scan(third.code.as_bytes(), ScanSource::Wedge)
            .unwrap()
            .badge
            .is_some()
    );
    kiosk.set_direction(Direction::Exit).unwrap();
    kiosk.scan(ada.code.as_bytes(), ScanSource::Wedge).unwrap();
    kiosk.set_direction(Direction::Entry).unwrap();
    assert!(
        kiosk
            .scan(ada.code.as_bytes(), ScanSource::Wedge)
            .unwrap()
            .badge
            .is_none()
    );
}

#[test]
fn an_every_admission_gate_prints_at_each_entry_and_a_never_gate_prints_nothing() {
    use sync_protocol::model::BadgePrinting;
    let mut f = Fixture::new("app-print-every");
    printing_gate(&mut f, BadgePrinting::Every);
    let kiosk = ready(&mut f);
    let code = f.snapshot.tickets[1].code.clone();
    let mut printed = 0;
    for _ in 0..2 {
        kiosk.set_direction(Direction::Entry).unwrap();
        let entry = kiosk.scan(code.as_bytes(), ScanSource::Wedge).unwrap();
        assert_eq!(entry.verdict.code, VerdictCode::Admitted);
        printed += usize::from(entry.badge.is_some());
        kiosk.set_direction(Direction::Exit).unwrap();
        let exit = kiosk.scan(code.as_bytes(), ScanSource::Wedge).unwrap();
        assert_eq!(exit.verdict.code, VerdictCode::Admitted);
        assert!(exit.badge.is_none(), "an exit prints nothing");
    }
    assert_eq!(printed, 2);

    let mut f = Fixture::new("app-print-never");
    let kiosk = ready(&mut f);
    let entry = kiosk
        .scan(f.snapshot.tickets[1].code.as_bytes(), ScanSource::Wedge)
        .unwrap();
    assert_eq!(entry.verdict.code, VerdictCode::Admitted);
    assert!(entry.badge.is_none());
    assert!(!matches!(
        last_change(&kiosk),
        sync_protocol::changes::ChangeBody::BadgePrint(_)
    ));
}

#[test]
fn a_badge_printed_at_another_kiosk_is_not_printed_again() {
    use sync_protocol::model::BadgePrinting;
    let mut f = Fixture::new("app-print-elsewhere");
    printing_gate(&mut f, BadgePrinting::First);
    let ada = f.snapshot.tickets[0].clone();
    // The package lists Ada's badge as printed (another kiosk's print, synced to the server).
    f.snapshot.printed_badges = vec![ada.id];
    f.snapshot.normalize();
    let kiosk = ready(&mut f);
    let admitted = kiosk.scan(ada.code.as_bytes(), ScanSource::Wedge).unwrap();
    assert_eq!(admitted.verdict.code, VerdictCode::Admitted);
    assert!(admitted.badge.is_none());
    let grace = kiosk
        .scan(f.snapshot.tickets[1].code.as_bytes(), ScanSource::Wedge)
        .unwrap();
    assert!(grace.badge.is_some());
}
