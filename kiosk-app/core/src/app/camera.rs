//! The gate's camera loop: a frame source on its own thread, the decoder ladder on another, a
//! downscaled preview for the screen about twelve times a second, and every fresh code judged
//! at the gate. The source is a USB camera (feature `camera`) or a folder of badge images
//! replayed as a camera (demos, tests, and a kiosk with no camera).
//!
//! The one-slot hand-off means a slow decode never queues stale frames; a decoder panic is
//! contained by the ladder; the same badge held in view is judged once (debounce).

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;

use super::{
    AppError, CameraInfo, CameraStatus, Kiosk, Point, PreviewFrame, ScanOutcome, ScanSource,
};
use crate::scan::decode::LiveDecoder;
use crate::scan::decode::Outline;
use crate::scan::frame::spawn_producer;
use crate::scan::replay::DirectoryReplay;
use crate::scan::{Debounce, GrayFrame, Ladder, LatestFrame, ScanError};

/// Width of preview frames sent to the screen.
pub const PREVIEW_WIDTH: u32 = 320;
/// Least time between two preview frames (about 12 per second).
const PREVIEW_INTERVAL: Duration = Duration::from_millis(80);
/// A badge held in view is judged again only after this long out of view.
const DEBOUNCE_MS: u64 = 3_000;
/// The id of the replay folder in the camera list.
pub const REPLAY_ID: &str = "replay";

/// Where frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A folder of images played as a camera.
    Replay { dir: PathBuf, fps: f64 },
    /// A USB camera by index; `None`: the first that works.
    #[cfg(feature = "camera")]
    Camera { index: Option<u32> },
}

/// The cameras this kiosk can scan with: the replay folder when one is configured, and the USB
/// cameras found (feature `camera`).
pub fn cameras(replay_dir: Option<&PathBuf>) -> Vec<CameraInfo> {
    let mut list = Vec::new();
    #[cfg(feature = "camera")]
    {
        let backend = nokhwa::native_api_backend().unwrap_or(nokhwa::utils::ApiBackend::Auto);
        match nokhwa::query(backend) {
            Ok(found) => list.extend(found.into_iter().map(|info| CameraInfo {
                id: info.index().to_string(),
                name: info.human_name(),
            })),
            Err(e) => tracing::info!(error = %e, "no camera list"),
        }
    }
    if let Some(dir) = replay_dir {
        list.push(CameraInfo {
            id: REPLAY_ID.to_owned(),
            name: format!("Badge images in {}", dir.display()),
        });
    }
    list
}

/// The source for the camera picked in the settings (`None`: the first that exists).
pub fn choose(picked: Option<&str>, replay_dir: Option<&PathBuf>) -> Option<Source> {
    let replay = || {
        replay_dir.map(|dir| Source::Replay {
            dir: dir.clone(),
            fps: 4.0,
        })
    };
    match picked {
        Some(REPLAY_ID) => replay(),
        #[cfg(feature = "camera")]
        Some(index) => match index.parse() {
            Ok(index) => Some(Source::Camera { index: Some(index) }),
            Err(_) => replay().or(Some(Source::Camera { index: None })),
        },
        #[cfg(feature = "camera")]
        None if !cameras(None).is_empty() => Some(Source::Camera { index: None }),
        _ => replay(),
    }
}

/// Where the loop reports to (the shell sends these to the window).
pub trait CameraSink: Send + Sync + 'static {
    fn preview(&self, frame: PreviewFrame);
    fn scanned(&self, outcome: Result<ScanOutcome, AppError>);
    fn status(&self, status: CameraStatus);
}

/// A running camera loop; stops when dropped or with [`CameraLoop::stop`].
pub struct CameraLoop {
    slot: Arc<LatestFrame>,
    stop: Arc<AtomicBool>,
    decoder: Option<JoinHandle<()>>,
}

impl CameraLoop {
    /// Starts reading `source` and judging what it shows at the kiosk's gate.
    pub fn start(
        kiosk: Arc<Kiosk>,
        source: Source,
        sink: Arc<dyn CameraSink>,
    ) -> Result<CameraLoop, AppError> {
        let slot = LatestFrame::new();
        let stop = Arc::new(AtomicBool::new(false));
        let info = describe(&source);
        let producer = match source {
            Source::Replay { dir, fps } => {
                spawn_producer(move || DirectoryReplay::open(&dir, fps), slot.clone())
            }
            #[cfg(feature = "camera")]
            Source::Camera { index } => spawn_producer(
                move || match index {
                    Some(i) => crate::scan::camera::CameraSource::open(
                        nokhwa::utils::CameraIndex::Index(i),
                    ),
                    None => crate::scan::camera::CameraSource::open_first(),
                },
                slot.clone(),
            ),
        }
        .map_err(|e| AppError::Camera(e.to_string()))?;
        let decoder = {
            let (slot, stop) = (slot.clone(), stop.clone());
            std::thread::Builder::new()
                .name("gate-decoder".into())
                .spawn(move || decode_loop(&kiosk, &slot, &stop, &*sink, info, producer))
                .map_err(|e| AppError::Camera(e.to_string()))?
        };
        Ok(CameraLoop {
            slot,
            stop,
            decoder: Some(decoder),
        })
    }

    /// Stops the loop and waits for its threads.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.slot.close();
        if let Some(decoder) = self.decoder.take() {
            let _ = decoder.join();
        }
    }
}

impl Drop for CameraLoop {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The camera a source reads, as the camera list names it.
pub fn describe(source: &Source) -> CameraInfo {
    match source {
        Source::Replay { dir, .. } => CameraInfo {
            id: REPLAY_ID.to_owned(),
            name: format!("Badge images in {}", dir.display()),
        },
        #[cfg(feature = "camera")]
        Source::Camera { index } => CameraInfo {
            id: index.map(|i| i.to_string()).unwrap_or_default(),
            name: "Camera".to_owned(),
        },
    }
}

fn decode_loop(
    kiosk: &Kiosk,
    slot: &LatestFrame,
    stop: &AtomicBool,
    sink: &dyn CameraSink,
    info: CameraInfo,
    producer: JoinHandle<Result<(), ScanError>>,
) {
    let mut decoder = LiveDecoder::new(Ladder::default());
    let mut debounce = Debounce::new(DEBOUNCE_MS);
    let mut last_preview: Option<Instant> = None;
    let mut running = false;
    while !stop.load(Ordering::SeqCst) {
        let Some(frame) = slot.take(Duration::from_millis(200)) else {
            if slot.is_closed() {
                break;
            }
            continue;
        };
        if !running {
            running = true;
            sink.status(CameraStatus::Running {
                camera: info.clone(),
            });
        }
        let read = decoder.decode(&frame);
        if last_preview.is_none_or(|t| t.elapsed() >= PREVIEW_INTERVAL) {
            last_preview = Some(Instant::now());
            if let Some(preview) = preview(&frame, read.outline) {
                sink.preview(preview);
            }
        }
        let now = (kiosk.clock)();
        for payload in read.payloads {
            if debounce.admit(&payload, now) {
                sink.scanned(kiosk.scan(&payload, ScanSource::Camera));
            }
        }
    }
    slot.close();
    match producer.join() {
        _ if stop.load(Ordering::SeqCst) => sink.status(CameraStatus::Stopped),
        Ok(Ok(())) => sink.status(CameraStatus::Stopped),
        Ok(Err(ScanError::Camera(message))) if !running => {
            sink.status(CameraStatus::NoCamera { message })
        }
        Ok(Err(e)) => sink.status(CameraStatus::Failed {
            message: e.to_string(),
        }),
        Err(_) => sink.status(CameraStatus::Failed {
            message: "the camera thread stopped unexpectedly".to_owned(),
        }),
    }
}

/// The frame downscaled to [`PREVIEW_WIDTH`] as a JPEG data URL, with the outline of the code
/// read in it (in the preview's pixels).
pub fn preview(frame: &GrayFrame, outline: Option<Outline>) -> Option<PreviewFrame> {
    let image = frame.to_image();
    let width = PREVIEW_WIDTH.min(frame.width()).max(1);
    let height = ((u64::from(frame.height()) * u64::from(width)) / u64::from(frame.width().max(1)))
        .max(1) as u32;
    let small =
        image::imageops::resize(&image, width, height, image::imageops::FilterType::Triangle);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut jpeg), 70)
        .encode_image(&small)
        .ok()?;
    Some(PreviewFrame {
        image: format!(
            "data:image/jpeg;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&jpeg)
        ),
        width,
        height,
        outline: outline.map(|corners| {
            let scale = width as f32 / frame.width().max(1) as f32;
            corners
                .iter()
                .map(|&(x, y)| Point {
                    x: x as f32 * scale,
                    y: y as f32 * scale,
                })
                .collect()
        }),
    })
}
