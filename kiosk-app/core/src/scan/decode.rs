//! Reading QR codes in a grayscale frame: the [`Decoder`] trait, the two engines (rxing, the ZXing
//! port, and rqrr), the panic guard every decoder call goes through, and the fallback [`Ladder`].
//!
//! Decoding is a pure function of the frame. A decoder that panics (rqrr does on some real photos)
//! yields "no code" and a logged warning; it never takes the kiosk down.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rxing::{BarcodeFormat, DecodeHints, RXingResultMetadataType, RXingResultMetadataValue};

use super::GrayFrame;

/// Where a code sits in a frame: its four corners in pixels, clockwise from the top left of the
/// code (for the outline the camera preview draws).
pub type Outline = [(i32, i32); 4];

/// A QR engine over grayscale frames. Returns the payloads it read (raw bytes: a QR code may
/// carry any bytes); an empty list means no code was found.
pub trait Decoder: Send + Sync {
    /// A short name for logs and the hit-rate table.
    fn name(&self) -> &str;
    fn decode(&self, frame: &GrayFrame) -> Vec<Vec<u8>>;

    /// The payloads with where each code is, when the engine says (by default it does not).
    fn locate(&self, frame: &GrayFrame) -> Vec<(Vec<u8>, Option<Outline>)> {
        self.decode(frame).into_iter().map(|p| (p, None)).collect()
    }
}

/// Runs `decoder` with a panic guard: a panic becomes "no code" plus a warning.
pub fn guarded(decoder: &dyn Decoder, frame: &GrayFrame) -> Vec<Vec<u8>> {
    guarded_locate(decoder, frame)
        .into_iter()
        .map(|(payload, _)| payload)
        .collect()
}

/// [`Decoder::locate`] with the same panic guard as [`guarded`].
pub fn guarded_locate(decoder: &dyn Decoder, frame: &GrayFrame) -> Vec<(Vec<u8>, Option<Outline>)> {
    match catch_unwind(AssertUnwindSafe(|| decoder.locate(frame))) {
        Ok(found) => found,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::warn!(
                decoder = decoder.name(),
                width = frame.width(),
                height = frame.height(),
                %reason,
                "decoder panicked; treated as no code"
            );
            Vec::new()
        }
    }
}

/// rxing (ZXing port), QR only, try-harder.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rxing;

impl Decoder for Rxing {
    fn name(&self) -> &str {
        "rxing"
    }

    fn decode(&self, frame: &GrayFrame) -> Vec<Vec<u8>> {
        self.locate(frame).into_iter().map(|(p, _)| p).collect()
    }

    fn locate(&self, frame: &GrayFrame) -> Vec<(Vec<u8>, Option<Outline>)> {
        if frame.width() == 0 || frame.height() == 0 {
            return Vec::new();
        }
        let mut hints = DecodeHints {
            TryHarder: Some(true),
            ..DecodeHints::default()
        };
        match rxing::helpers::detect_in_luma_slice_with_hints(
            frame.luma(),
            frame.width(),
            frame.height(),
            Some(BarcodeFormat::QR_CODE),
            &mut hints,
        ) {
            Ok(result) => vec![(rxing_payload(&result), rxing_outline(&result))],
            Err(_) => Vec::new(),
        }
    }
}

/// rxing reports three corners of a QR code (or its finder centres, by version): the fourth
/// completes the parallelogram, opposite the corner where the two shorter sides meet.
fn rxing_outline(result: &rxing::RXingResult) -> Option<Outline> {
    let points = result.getPoints();
    let p = |i: usize| points.get(i).map(|q| (q.x, q.y));
    let three = [p(0)?, p(1)?, p(2)?];
    let distance = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).hypot(a.1 - b.1);
    // The corner between the two legs is the one not on the longest side (the diagonal).
    let corner = (0..3)
        .max_by(|&i, &j| {
            let opposite = |k: usize| distance(three[(k + 1) % 3], three[(k + 2) % 3]);
            opposite(i).total_cmp(&opposite(j))
        })
        .unwrap_or(0);
    let (a, b, c) = (
        three[(corner + 1) % 3],
        three[corner],
        three[(corner + 2) % 3],
    );
    let fourth = (a.0 + c.0 - b.0, a.1 + c.1 - b.1);
    Some(clockwise(
        [a, b, c, fourth].map(|(x, y)| (x.round() as i32, y.round() as i32)),
    ))
}

/// The corners in clockwise order on screen (y grows downwards), from the one nearest the
/// frame's top left.
fn clockwise(mut corners: Outline) -> Outline {
    let cx = corners.iter().map(|c| c.0 as f32).sum::<f32>() / 4.0;
    let cy = corners.iter().map(|c| c.1 as f32).sum::<f32>() / 4.0;
    corners.sort_by(|a, b| {
        let angle = |c: &(i32, i32)| (c.1 as f32 - cy).atan2(c.0 as f32 - cx);
        angle(a).total_cmp(&angle(b))
    });
    let first = (0..4)
        .min_by_key(|&i| corners[i].0 + corners[i].1)
        .unwrap_or(0);
    corners.rotate_left(first);
    corners
}

/// rxing hands back text decoded with a guessed character set. When the code's byte segments are
/// not UTF-8 they are binary data and are returned as they are; otherwise the text is the payload.
fn rxing_payload(result: &rxing::RXingResult) -> Vec<u8> {
    if let Some(RXingResultMetadataValue::ByteSegments(segments)) = result
        .getRXingResultMetadata()
        .get(&RXingResultMetadataType::BYTE_SEGMENTS)
    {
        let bytes: Vec<u8> = segments.concat();
        if !bytes.is_empty() && std::str::from_utf8(&bytes).is_err() {
            return bytes;
        }
    }
    result.getText().as_bytes().to_vec()
}

/// rqrr (a port of quirc). Reads several codes per frame; cannot read light-on-dark codes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rqrr;

impl Decoder for Rqrr {
    fn name(&self) -> &str {
        "rqrr"
    }

    fn decode(&self, frame: &GrayFrame) -> Vec<Vec<u8>> {
        self.locate(frame).into_iter().map(|(p, _)| p).collect()
    }

    fn locate(&self, frame: &GrayFrame) -> Vec<(Vec<u8>, Option<Outline>)> {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        if w == 0 || h == 0 {
            return Vec::new();
        }
        let luma = frame.luma();
        let mut prepared =
            rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| luma[y * w + x]);
        prepared
            .detect_grids()
            .into_iter()
            .filter_map(|grid| {
                let mut payload = Vec::new();
                let outline = clockwise(grid.bounds.map(|p| (p.x, p.y)));
                grid.decode_to(&mut payload)
                    .ok()
                    .map(|_| (payload, Some(outline)))
            })
            .collect()
    }
}

/// How a ladder step changes the frame before its engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The frame as captured.
    AsIs,
    /// Light-on-dark made dark-on-light.
    Inverted,
    /// Half size (2x2 mean): against noise, blur and screen moire.
    Half,
    /// Double size: for tiny codes. Only for frames up to 800 px wide.
    Doubled,
}

impl Retry {
    fn label(self) -> &'static str {
        match self {
            Retry::AsIs => "",
            Retry::Inverted => "+inverted",
            Retry::Half => "+half",
            Retry::Doubled => "+doubled",
        }
    }
}

/// One rung of the ladder: an engine and the retry it runs on.
pub struct Step {
    pub decoder: Box<dyn Decoder>,
    pub retry: Retry,
    /// Run only on a live camera's full frames (see [`LiveDecoder`]): a slow rung that reads few
    /// codes the others miss.
    pub full_only: bool,
}

impl Step {
    pub fn new(decoder: impl Decoder + 'static, retry: Retry) -> Self {
        Self {
            decoder: Box::new(decoder),
            retry,
            full_only: false,
        }
    }

    /// A rung a live camera runs only on its full frames.
    pub fn full_only(mut self) -> Self {
        self.full_only = true;
        self
    }

    pub fn label(&self) -> String {
        format!("{}{}", self.decoder.name(), self.retry.label())
    }
}

/// The fallback ladder: each step runs (panic-guarded) until one reads a code. The default order
/// was measured on the synthetic set (docs/benchmarks.md, "Decoding"): rxing first (best and
/// fastest), then rqrr, then inverted and rescaled retries. rqrr costs most of a frame with no
/// code in it and reads few codes rxing misses, so a live camera runs it on one frame in
/// [`LiveDecoder::FULL_EVERY`] only.
pub struct Ladder {
    steps: Vec<Step>,
}

impl Default for Ladder {
    fn default() -> Self {
        Self::new(vec![
            Step::new(Rxing, Retry::AsIs),
            Step::new(Rqrr, Retry::AsIs).full_only(),
            Step::new(Rxing, Retry::Inverted),
            Step::new(Rxing, Retry::Half),
            Step::new(Rqrr, Retry::Half).full_only(),
            Step::new(Rxing, Retry::Doubled),
        ])
    }
}

/// The ladder over a live camera's frames: every frame gets the fast rungs, one frame in
/// [`LiveDecoder::FULL_EVERY`] gets every rung. A badge stays in view for many frames (a camera
/// gives 15 to 30 a second), so a code only a slow rung reads is still read within
/// `FULL_EVERY` frames, while the usual frame (no code in it) costs the fast rungs alone.
pub struct LiveDecoder {
    ladder: Ladder,
    frames: u64,
}

impl LiveDecoder {
    /// One frame in this many runs every rung.
    pub const FULL_EVERY: u64 = 3;

    pub fn new(ladder: Ladder) -> Self {
        Self { ladder, frames: 0 }
    }

    /// Decodes the next frame of the stream.
    pub fn decode(&mut self, frame: &GrayFrame) -> LadderResult {
        let full = self.frames.is_multiple_of(Self::FULL_EVERY);
        self.frames = self.frames.wrapping_add(1);
        self.ladder.decode_with(frame, full)
    }
}

/// What the ladder read, and which step read it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LadderResult {
    pub payloads: Vec<Vec<u8>>,
    /// The label of the step that read the payloads (`None` when nothing was read).
    pub step: Option<String>,
    /// Where the first code is in the frame as given (whatever size the step read it at), when
    /// its engine says.
    pub outline: Option<Outline>,
}

impl Ladder {
    pub fn new(steps: Vec<Step>) -> Self {
        Self { steps }
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Decodes `frame` with every step, stopping at the first that reads anything. Payloads are
    /// unique, in the order found.
    pub fn decode(&self, frame: &GrayFrame) -> LadderResult {
        self.decode_with(frame, true)
    }

    /// [`Ladder::decode`], leaving out the `full_only` steps unless `full`.
    pub fn decode_with(&self, frame: &GrayFrame, full: bool) -> LadderResult {
        let mut inverted = None;
        let mut half = None;
        let mut doubled = None;
        for step in self.steps.iter().filter(|s| full || !s.full_only) {
            let input = match step.retry {
                Retry::AsIs => frame,
                Retry::Inverted => &*inverted.get_or_insert_with(|| frame.inverted()),
                Retry::Half if frame.width() >= 64 && frame.height() >= 64 => {
                    &*half.get_or_insert_with(|| frame.half())
                }
                Retry::Doubled if frame.width() <= 800 && frame.height() <= 800 => {
                    &*doubled.get_or_insert_with(|| frame.doubled())
                }
                Retry::Half | Retry::Doubled => continue,
            };
            let found = guarded_locate(step.decoder.as_ref(), input);
            if !found.is_empty() {
                // Back to the frame's own pixels from the size this step read.
                let scale = |(x, y): (i32, i32)| match step.retry {
                    Retry::AsIs | Retry::Inverted => (x, y),
                    Retry::Half => (x * 2, y * 2),
                    Retry::Doubled => (x / 2, y / 2),
                };
                let outline = found.iter().find_map(|(_, o)| *o).map(|o| o.map(scale));
                let mut seen = HashSet::new();
                let payloads = found
                    .into_iter()
                    .map(|(payload, _)| payload)
                    .filter(|p| seen.insert(p.clone()))
                    .collect();
                return LadderResult {
                    payloads,
                    step: Some(step.label()),
                    outline,
                };
            }
        }
        LadderResult::default()
    }
}

impl Decoder for Ladder {
    fn name(&self) -> &str {
        "ladder"
    }

    fn decode(&self, frame: &GrayFrame) -> Vec<Vec<u8>> {
        Ladder::decode(self, frame).payloads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code only a full frame's rungs read (rqrr) is read within `FULL_EVERY` frames of a live
    /// stream, whichever frame the badge comes into view on; the fast frames skip rqrr.
    #[test]
    fn a_live_camera_reads_a_code_only_rqrr_reads_within_a_few_frames() {
        let ladder = Ladder::default();
        // Low contrast is where rqrr reads what rxing does not (docs/benchmarks.md, "Decoding").
        let sample = crate::scan::synthetic::generate(20250601, 10)
            .into_iter()
            .filter(|s| s.distortion == crate::scan::synthetic::Distortion::LowContrast)
            .find(|s| ladder.decode(&s.frame).step.as_deref() == Some("rqrr"))
            .expect("the synthetic set has codes only rqrr reads");
        assert!(
            ladder.decode_with(&sample.frame, false).payloads.is_empty(),
            "a fast frame runs no rqrr"
        );
        for offset in 0..LiveDecoder::FULL_EVERY {
            let mut live = LiveDecoder::new(Ladder::default());
            for _ in 0..offset {
                live.decode(&GrayFrame::new(64, 64, vec![255; 64 * 64]).unwrap());
            }
            let read = (0..LiveDecoder::FULL_EVERY)
                .map(|_| live.decode(&sample.frame))
                .find(|r| !r.payloads.is_empty())
                .expect("read within FULL_EVERY frames");
            assert_eq!(read.payloads, vec![sample.payload.clone()]);
        }
    }

    struct Panics;
    impl Decoder for Panics {
        fn name(&self) -> &str {
            "panics"
        }
        fn decode(&self, _: &GrayFrame) -> Vec<Vec<u8>> {
            panic!("index out of bounds, as rqrr does on some photos")
        }
    }

    struct Fixed(&'static [u8]);
    impl Decoder for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn decode(&self, _: &GrayFrame) -> Vec<Vec<u8>> {
            vec![self.0.to_vec(), self.0.to_vec()]
        }
    }

    fn blank() -> GrayFrame {
        GrayFrame::new(100, 100, vec![255; 100 * 100]).unwrap()
    }

    #[test]
    fn a_panicking_decoder_is_no_code_not_a_crash() {
        assert!(guarded(&Panics, &blank()).is_empty());
    }

    #[test]
    fn the_ladder_climbs_past_a_panic_to_the_next_step() {
        let ladder = Ladder::new(vec![
            Step::new(Panics, Retry::AsIs),
            Step::new(Fixed(b"GP1:X"), Retry::Inverted),
        ]);
        let result = ladder.decode(&blank());
        assert_eq!(result.payloads, vec![b"GP1:X".to_vec()]);
        assert_eq!(result.step.as_deref(), Some("fixed+inverted"));
    }

    /// A QR code of `payload` drawn at `offset` in a white frame, `module` pixels a module.
    fn drawn(payload: &[u8], width: u32, offset: (u32, u32), module: u32) -> (GrayFrame, u32) {
        let code = qrcode::QrCode::new(payload).unwrap();
        let n = code.width() as u32;
        let mut luma = vec![255u8; (width * width) as usize];
        for (i, color) in code.to_colors().iter().enumerate() {
            if *color == qrcode::Color::Dark {
                let (cx, cy) = (i as u32 % n, i as u32 / n);
                for dy in 0..module {
                    for dx in 0..module {
                        let (x, y) = (offset.0 + cx * module + dx, offset.1 + cy * module + dy);
                        luma[(y * width + x) as usize] = 0;
                    }
                }
            }
        }
        (GrayFrame::new(width, width, luma).unwrap(), n * module)
    }

    #[test]
    fn each_engine_and_the_ladder_say_where_the_code_is() {
        let (frame, side) = drawn(b"GP1:OUTLINE", 400, (150, 60), 6);
        let inside = |outline: Outline| {
            for (x, y) in outline {
                assert!((140..=160 + side as i32).contains(&x), "{outline:?}");
                assert!((50..=70 + side as i32).contains(&y), "{outline:?}");
            }
            // Clockwise from the top left: left corners left of right ones, top above bottom.
            assert!(
                outline[0].0 < outline[1].0 && outline[3].0 < outline[2].0,
                "{outline:?}"
            );
            assert!(
                outline[0].1 < outline[3].1 && outline[1].1 < outline[2].1,
                "{outline:?}"
            );
        };
        for decoder in [&Rxing as &dyn Decoder, &Rqrr] {
            let found = guarded_locate(decoder, &frame);
            assert_eq!(found.len(), 1, "{}", decoder.name());
            assert_eq!(found[0].0, b"GP1:OUTLINE");
            inside(found[0].1.expect("an outline"));
        }
        let read = Ladder::default().decode(&frame);
        inside(read.outline.expect("the ladder keeps the outline"));
        // A step that read a rescaled frame reports in the frame's own pixels.
        let half = Ladder::new(vec![Step::new(Rqrr, Retry::Half)]).decode(&frame);
        assert_eq!(half.step.as_deref(), Some("rqrr+half"));
        inside(half.outline.expect("an outline at half size"));
    }

    #[test]
    fn a_blank_frame_reads_nothing() {
        let result = Ladder::default().decode(&blank());
        assert_eq!(result, LadderResult::default());
    }

    #[test]
    fn empty_and_tiny_frames_are_no_code() {
        let ladder = Ladder::default();
        for (w, h) in [(0, 0), (1, 1), (3, 1)] {
            let frame = GrayFrame::new(w, h, vec![0; (w * h) as usize]).unwrap();
            assert!(ladder.decode(&frame).payloads.is_empty());
        }
    }
}
