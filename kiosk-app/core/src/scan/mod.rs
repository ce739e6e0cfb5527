//! The scan pipeline: from a camera frame or a USB scanner's keystrokes to a payload that the gate
//! path (`crate::gate::scan`) judges.
//!
//! - [`frame`]: grayscale frames, the [`FrameSource`] trait, image files and the one-slot
//!   [`LatestFrame`] hand-off between a capture thread and the decoder.
//! - [`decode`]: the [`Decoder`] trait, the rxing and rqrr engines, the panic guard and the
//!   fallback [`Ladder`].
//! - [`debounce`]: dropping the same payload seen again within a few seconds.
//! - [`wedge`]: assembling a keyboard-wedge scanner's keystrokes into lines.
//! - [`replay`]: a folder of images played as a camera (demos and tests).
//! - [`camera`] (feature `camera`): the USB camera through nokhwa, on its own thread.
//! - [`synthetic`]: the seeded synthetic image set the ladder is measured on.
//!
//! [`Intake`] joins them: camera payloads and wedge lines go through one debounce before they
//! reach the gate. Verdicts, the store and the screen live elsewhere.

#[cfg(feature = "camera")]
pub mod camera;
pub mod debounce;
pub mod decode;
pub mod frame;
pub mod replay;
pub mod synthetic;
pub mod wedge;

pub use debounce::Debounce;
pub use decode::{Decoder, Ladder};
pub use frame::{FrameSource, GrayFrame, LatestFrame};
pub use wedge::WedgeAssembler;

use std::path::PathBuf;

use sync_protocol::UnixMillis;

/// What can go wrong between a frame source and a payload (no code in a frame is not an error).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("a {width}x{height} frame needs {expected} luma bytes, got {got}")]
    FrameSize {
        width: u32,
        height: u32,
        expected: usize,
        got: usize,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable image: {reason}")]
    Image { path: PathBuf, reason: String },
    #[error("not a JPEG frame: {0}")]
    Jpeg(String),
    #[error("{0} holds no readable image")]
    EmptyReplay(PathBuf),
    #[error("camera: {0}")]
    Camera(String),
}

/// The single door to the gate path: payloads from the camera's decoder and lines from a
/// keyboard-wedge scanner pass the same [`Debounce`], so a badge read by both, or held in front
/// of the camera, is judged once.
#[derive(Debug)]
pub struct Intake {
    debounce: Debounce,
    wedge: WedgeAssembler,
}

impl Intake {
    pub fn new(debounce: Debounce, wedge: WedgeAssembler) -> Self {
        Self { debounce, wedge }
    }

    /// The payloads of one decoded frame that should be judged now.
    pub fn from_camera(&mut self, payloads: Vec<Vec<u8>>, now: UnixMillis) -> Vec<Vec<u8>> {
        payloads
            .into_iter()
            .filter(|p| self.debounce.admit(p, now))
            .collect()
    }

    /// One keystroke of the wedge scanner; a finished, fresh line is returned for judging.
    pub fn from_wedge(&mut self, key: char, now: UnixMillis) -> Option<Vec<u8>> {
        let line = self.wedge.push(key, now)?;
        self.debounce.admit(&line, now).then_some(line)
    }
}

/// One line of `kiosk decode`: the codes read in one image file, or why it could not be read.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FileReport {
    pub file: String,
    /// Payloads as text; a payload that is not UTF-8 is given as `hex:` and its bytes in hex.
    pub codes: Vec<String>,
    /// Time spent decoding (not reading the file), in milliseconds.
    pub ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads `path` as an image and runs the ladder over it. Never fails: an unreadable file gives a
/// report with `error` set and no codes.
pub fn decode_file(ladder: &Ladder, path: &std::path::Path) -> FileReport {
    let mut report = FileReport {
        file: path.display().to_string(),
        codes: Vec::new(),
        ms: 0.0,
        error: None,
    };
    match GrayFrame::open(path) {
        Ok(frame) => {
            let start = std::time::Instant::now();
            let result = ladder.decode(&frame);
            report.ms = (start.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
            report.codes = result.payloads.iter().map(|p| payload_text(p)).collect();
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    report
}

/// A payload for printing: its text, or `hex:` and its bytes when it is not UTF-8.
pub fn payload_text(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
            format!("hex:{hex}")
        }
    }
}

impl Default for Intake {
    fn default() -> Self {
        Self::new(Debounce::default(), WedgeAssembler::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_and_wedge_share_one_debounce() {
        let mut intake = Intake::default();
        let code = b"GP1:ABC".to_vec();
        assert_eq!(
            intake.from_camera(vec![code.clone()], UnixMillis(1_000)),
            vec![code.clone()]
        );
        // The same badge typed by the wedge scanner a moment later is not judged twice.
        let mut out = None;
        for (i, key) in "GP1:ABC\r".chars().enumerate() {
            out = intake.from_wedge(key, UnixMillis(1_500 + i as u64 * 5));
        }
        assert_eq!(out, None);
        // Another badge on the wedge passes at once.
        for (i, key) in "GP1:XYZ\n".chars().enumerate() {
            out = intake.from_wedge(key, UnixMillis(1_600 + i as u64 * 5));
        }
        assert_eq!(out, Some(b"GP1:XYZ".to_vec()));
    }
}
