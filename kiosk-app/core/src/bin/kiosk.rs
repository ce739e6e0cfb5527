//! `kiosk`: the headless kiosk. Every command prints one JSON document on stdout (or a line per
//! item) and errors on stderr with a non-zero exit, so it scripts well.
//!
//! The store lives in `--data DIR` (or KIOSK_DATA_DIR); the PIN comes from KIOSK_PIN, else from
//! the first line of standard input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Parser, Subcommand};
use kiosk_core::gate::{annul, scan};
use kiosk_core::inspect::{inspect_code, inspect_package};
use kiosk_core::store::KioskStore;
use kiosk_core::sync::SyncClient;
use serde_json::json;
use sync_protocol::UnixMillis;
use sync_protocol::crypto::{KdfParams, PublicKey};
use sync_protocol::ids::{CheckInId, EventId};
use sync_protocol::model::Direction;
use sync_protocol::package::PackageFile;

#[derive(Parser)]
#[command(name = "kiosk", version, about = "Gatepass kiosk, headless")]
struct Cli {
    /// Folder of the kiosk's store.
    #[arg(
        long,
        global = true,
        env = "KIOSK_DATA_DIR",
        default_value = "kiosk-data"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the encrypted store, protected by the PIN (KIOSK_PIN), with the coordinator PIN
    /// (KIOSK_COORDINATOR_PIN) that opens the coordinator screen of the kiosk window.
    Init,
    /// Enrol with a server: --server URL --token TOKEN, or --invite 'GATEPASS-ENROL:...'.
    Enroll {
        #[arg(long, conflicts_with = "invite", requires = "token")]
        server: Option<String>,
        /// The one-time token as printed. Base64url tokens may start with `-`: taken as is.
        #[arg(long, allow_hyphen_values = true)]
        token: Option<String>,
        /// The text of the enrolment QR code.
        #[arg(long, allow_hyphen_values = true)]
        invite: Option<String>,
        /// A kiosk kit file (a venue with no network): its code from KIOSK_KIT_CODE or stdin.
        #[arg(long, conflicts_with_all = ["invite", "server", "token"])]
        kit: Option<PathBuf>,
        /// A name for the device list.
        #[arg(long, default_value = "kiosk")]
        label: String,
    },
    /// Apply a package file (e.g. from a USB stick), verified against the pinned server key.
    ImportPackage { file: PathBuf },
    /// Fetch and apply the newest package from the server.
    FetchPackage,
    /// Judge a scanned code at a gate and record it.
    Scan {
        code: String,
        /// Gate name or id.
        #[arg(long)]
        gate: String,
        /// Scan an exit instead of an entry.
        #[arg(long)]
        exit: bool,
    },
    /// Annul this kiosk's own check-in (the person did not pass), at most two minutes after it:
    /// the `check_in_id` a scan printed.
    Annul { check_in_id: CheckInId },
    /// Register a walk-in: the person and form answers as JSON, e.g.
    /// '{"first_name": "Ada", "last_name": "Lovelace", "answers": {"role": "developer"}}'.
    /// Prints the attendee, ticket and badge (SVG), or the problems per field.
    Register {
        json: String,
        /// Also write the badge SVG to this file.
        #[arg(long)]
        badge: Option<PathBuf>,
    },
    /// The kiosk for a whole day: syncs in the background, judges every code a USB
    /// keyboard-wedge scanner types on standard input (one per line) and, with --source, every
    /// badge in a folder of images; prints one JSON line per event (scan, sync, camera, error).
    /// Ends when standard input closes (without --source) or on Ctrl-C.
    Run {
        /// Gate name or id.
        #[arg(long)]
        gate: String,
        /// Scan exits instead of entries.
        #[arg(long)]
        exit: bool,
        /// A folder of badge images played as a camera.
        #[arg(long)]
        source: Option<PathBuf>,
        /// Frames a second from --source.
        #[arg(long, default_value_t = 5.0)]
        fps: f64,
    },
    /// Push pending changes, then pull the feed.
    Sync,
    /// What the kiosk holds: identity, package, outbox.
    Status,
    /// Change the PIN (old PIN as usual, new one from KIOSK_NEW_PIN or the next stdin line).
    ChangePin,
    /// Read the QR codes in image files (PNG, JPEG): one JSON line per image,
    /// {"file", "codes", "ms"} or {"file", "codes": [], "error"}; exits 0 either way.
    Decode {
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Say what kind of code a scanned payload is, without a store.
    InspectCode { code: String },
    /// Verify a package file and count what it holds, without a store.
    InspectPackage {
        file: PathBuf,
        #[arg(long)]
        server_key: String,
        #[arg(long)]
        event: EventId,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Decode { images } = &cli.command {
        let ladder = kiosk_core::scan::Ladder::default();
        for image in images {
            let report = kiosk_core::scan::decode_file(&ladder, image);
            println!("{}", serde_json::to_string(&report).expect("JSON output"));
        }
        return ExitCode::SUCCESS;
    }
    if let Command::Run { .. } = &cli.command {
        return run_headless(cli);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(value) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).expect("JSON output")
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `kiosk run`: JSON lines on standard output, logs on standard error.
fn run_headless(cli: Cli) -> ExitCode {
    let Command::Run {
        gate,
        exit,
        source,
        fps,
    } = cli.command
    else {
        unreachable!("called for the run command only");
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        let kiosk = kiosk_core::app::Kiosk::open(&cli.data, KdfParams::RECOMMENDED)
            .map_err(|e| e.to_string())?;
        let pin = secret("KIOSK_PIN", "PIN")?;
        kiosk.unlock(&pin).map_err(|e| e.to_string())?;
        let options = kiosk_core::headless::RunOptions {
            gate,
            exit,
            source,
            fps,
            sync: kiosk_core::background::LoopConfig::default(),
        };
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        kiosk_core::headless::run(std::sync::Arc::new(kiosk), options, stdin, stop, |line| {
            println!("{line}");
        })
        .await
        .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn now() -> UnixMillis {
    UnixMillis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

fn secret(env_name: &str, prompt: &str) -> Result<String, String> {
    if let Ok(value) = std::env::var(env_name) {
        return Ok(value);
    }
    eprint!("{prompt}: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn store_path(data: &Path) -> PathBuf {
    data.join("kiosk.db")
}

fn open(data: &Path) -> Result<KioskStore, String> {
    let pin = secret("KIOSK_PIN", "PIN")?;
    let mut store = KioskStore::unlock(&store_path(data), &pin).map_err(|e| e.to_string())?;
    store
        .upgrade_kdf(&pin, KdfParams::RECOMMENDED)
        .map_err(|e| e.to_string())?;
    Ok(store)
}

async fn run(cli: Cli) -> Result<serde_json::Value, String> {
    let data = cli.data;
    match cli.command {
        Command::Init => {
            std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
            let pin = secret("KIOSK_PIN", "new PIN")?;
            let coordinator = secret("KIOSK_COORDINATOR_PIN", "coordinator PIN")?;
            if coordinator == pin {
                return Err("the coordinator PIN must differ from the kiosk PIN".into());
            }
            // Whole or not at all: a failure leaves no half-made store.
            KioskStore::create_with(&store_path(&data), &pin, KdfParams::RECOMMENDED, |store| {
                store.set_coordinator_pin(&coordinator, KdfParams::RECOMMENDED)
            })
            .map_err(|e| e.to_string())?;
            Ok(json!({ "created": store_path(&data) }))
        }
        Command::Enroll { kit: Some(kit), .. } => {
            let store = Mutex::new(open(&data)?);
            let bytes = std::fs::read(&kit).map_err(|e| format!("{}: {e}", kit.display()))?;
            let code = secret("KIOSK_KIT_CODE", "kit code")?;
            let (identity, version) = kiosk_core::enrol::enrol_from_kit(&store, &bytes, &code)
                .map_err(|e| e.to_string())?;
            Ok(json!({
                "device_id": identity.device_id,
                "event_id": identity.event_id,
                "server_key_id": identity.server_key.key_id(),
                "package_version": version,
            }))
        }
        Command::Enroll {
            server,
            token,
            invite,
            label,
            kit: None,
        } => {
            let store = Mutex::new(open(&data)?);
            let invite = match (invite, server) {
                (Some(text), _) => kiosk_core::enrol::invite_from(&text, None),
                (None, Some(url)) => kiosk_core::enrol::invite_from(&url, token.as_deref()),
                (None, None) => None,
            }
            .ok_or("give --invite TEXT, or --server URL --token TOKEN")?;
            let identity = kiosk_core::enrol::enrol(&store, &invite, &label)
                .await
                .map_err(|e| e.to_string())?;
            Ok(json!({
                "device_id": identity.device_id,
                "event_id": identity.event_id,
                "server_key_id": identity.server_key.key_id(),
            }))
        }
        Command::ImportPackage { file } => {
            let mut store = open(&data)?;
            let identity = store
                .identity()
                .map_err(|e| e.to_string())?
                .ok_or("enrol first: the package is checked against the server key pinned then")?;
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let package = PackageFile::from_bytes(&bytes).map_err(|e| e.to_string())?;
            let manifest = store
                .apply_package(&package, &identity.server_key, identity.event_id)
                .map_err(|e| e.to_string())?;
            Ok(json!({
                "version": manifest.version,
                "tickets": store.ticket_count().map_err(|e| e.to_string())?,
            }))
        }
        Command::FetchPackage => {
            let store = open(&data)?;
            let client = SyncClient::for_store(&store).map_err(|e| e.to_string())?;
            let store = Mutex::new(store);
            let applied = client
                .fetch_package(&store)
                .await
                .map_err(|e| e.to_string())?;
            let store = store.into_inner().unwrap_or_else(|e| e.into_inner());
            Ok(json!({
                "applied": applied,
                "version": store.package_version().map_err(|e| e.to_string())?,
                "tickets": store.ticket_count().map_err(|e| e.to_string())?,
            }))
        }
        Command::Scan { code, gate, exit } => {
            let mut store = open(&data)?;
            let gates = store.gates().map_err(|e| e.to_string())?;
            let gate = gates
                .iter()
                .find(|g| g.name.eq_ignore_ascii_case(&gate) || g.id.to_string() == gate)
                .ok_or_else(|| {
                    let names: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
                    format!("no gate {gate:?}; this package has: {}", names.join(", "))
                })?;
            let direction = if exit {
                Direction::Exit
            } else {
                Direction::Entry
            };
            let result = scan(&mut store, code.as_bytes(), gate.id, direction, now(), true)
                .map_err(|e| e.to_string())?;
            Ok(serde_json::to_value(result).expect("results serialize"))
        }
        Command::Annul { check_in_id } => {
            let mut store = open(&data)?;
            let annulled = annul(&mut store, check_in_id, now()).map_err(|e| e.to_string())?;
            Ok(serde_json::to_value(annulled).expect("annulments serialize"))
        }
        Command::Register {
            json: request,
            badge,
        } => {
            let request: kiosk_core::walkin::WalkInRequest =
                serde_json::from_str(&request).map_err(|e| format!("the walk-in JSON: {e}"))?;
            let mut store = open(&data)?;
            match kiosk_core::walkin::register(&mut store, request, now()) {
                Ok(registration) => {
                    if let Some(path) = badge {
                        std::fs::write(&path, &registration.badge_svg)
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                    }
                    Ok(json!({
                        "attendee": registration.attendee,
                        "ticket": registration.ticket,
                        "badge_qr_version": registration.badge_qr_version,
                        "seq": registration.seq,
                    }))
                }
                Err(kiosk_core::walkin::WalkInError::Fields(problems)) => Err(format!(
                    "the registration needs attention:\n{}",
                    problems
                        .iter()
                        .map(|p| format!("  {}: {}", p.field, p.message))
                        .collect::<Vec<_>>()
                        .join("\n")
                )),
                Err(other) => Err(other.to_string()),
            }
        }
        Command::Sync => {
            let store = open(&data)?;
            let client = SyncClient::for_store(&store).map_err(|e| e.to_string())?;
            let store = Mutex::new(store);
            let report = client
                .sync_once(&store, |progress| {
                    eprintln!("{}", serde_json::to_string(&progress).unwrap_or_default());
                })
                .await
                .map_err(|e| e.to_string())?;
            Ok(serde_json::to_value(report).expect("reports serialize"))
        }
        Command::Status => {
            let store = open(&data)?;
            let err = |e: kiosk_core::store::StoreError| e.to_string();
            let identity = store.identity().map_err(err)?;
            let (pending, acknowledged, parked) = store.outbox_counts().map_err(err)?;
            Ok(json!({
                "enrolled": identity.as_ref().map(|i| json!({
                    "device_id": i.device_id,
                    "event_id": i.event_id,
                    "server": i.server_url,
                })),
                "package_version": store.package_version().map_err(err)?,
                "tickets": store.ticket_count().map_err(err)?,
                "outbox": { "pending": pending, "acknowledged": acknowledged, "parked": parked },
                "parked": store.parked_changes().map_err(err)?,
                "cursor": store.cursor().map_err(err)?,
            }))
        }
        Command::ChangePin => {
            let old = secret("KIOSK_PIN", "PIN")?;
            let mut store =
                KioskStore::unlock(&store_path(&data), &old).map_err(|e| e.to_string())?;
            let new = secret("KIOSK_NEW_PIN", "new PIN")?;
            store
                .change_pin(&old, &new, KdfParams::RECOMMENDED)
                .map_err(|e| e.to_string())?;
            Ok(json!({ "changed": true }))
        }
        Command::Decode { .. } | Command::Run { .. } => {
            Err("handled before the runtime starts".into())
        }
        Command::InspectCode { code } => {
            let report = inspect_code(code.as_bytes()).map_err(|e| e.to_string())?;
            Ok(serde_json::to_value(report).expect("reports serialize"))
        }
        Command::InspectPackage {
            file,
            server_key,
            event,
        } => {
            let key: PublicKey = serde_json::from_value(serde_json::Value::String(server_key))
                .map_err(|e| format!("--server-key: {e}"))?;
            let bytes =
                std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let report = inspect_package(&bytes, &key, event).map_err(|e| e.to_string())?;
            Ok(serde_json::to_value(report).expect("reports serialize"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enroll_args(args: &[&str]) -> (Option<String>, Option<String>) {
        let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        match cli.command {
            Command::Enroll { token, invite, .. } => (token, invite),
            _ => panic!("not an enroll command"),
        }
    }

    #[test]
    fn tokens_and_invites_starting_with_a_hyphen_are_taken_as_printed() {
        let (token, _) = enroll_args(&[
            "kiosk",
            "enroll",
            "--server",
            "http://127.0.0.1:8080",
            "--token",
            "-Zq3xJ",
        ]);
        assert_eq!(token.as_deref(), Some("-Zq3xJ"));
        let (token, _) = enroll_args(&["kiosk", "enroll", "--server", "http://x", "--token=--a"]);
        assert_eq!(token.as_deref(), Some("--a"));
        let (_, invite) = enroll_args(&["kiosk", "enroll", "--invite", "-weird-but-printed"]);
        assert_eq!(invite.as_deref(), Some("-weird-but-printed"));
    }
}
