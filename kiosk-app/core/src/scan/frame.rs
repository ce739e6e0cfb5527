//! Grayscale frames and where they come from: the [`FrameSource`] trait, image files, the
//! conversions a camera needs (Y bytes of YUYV, MJPEG straight to luma), and the one-slot
//! [`LatestFrame`] hand-off that lets a slow decoder skip stale frames.
//!
//! Decoding lives in `decode`; the camera and the folder replay in their own modules.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::ScanError;

/// One grayscale frame: `width * height` luma bytes, row by row, 0 black and 255 white.
#[derive(Clone, PartialEq, Eq)]
pub struct GrayFrame {
    width: u32,
    height: u32,
    luma: Vec<u8>,
}

impl std::fmt::Debug for GrayFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GrayFrame({}x{})", self.width, self.height)
    }
}

impl GrayFrame {
    /// A frame from its luma bytes; refused when the length does not match the size.
    pub fn new(width: u32, height: u32, luma: Vec<u8>) -> Result<Self, ScanError> {
        let expected = (width as usize).saturating_mul(height as usize);
        if luma.len() != expected {
            return Err(ScanError::FrameSize {
                width,
                height,
                expected,
                got: luma.len(),
            });
        }
        Ok(Self {
            width,
            height,
            luma,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn luma(&self) -> &[u8] {
        &self.luma
    }

    pub fn into_luma(self) -> Vec<u8> {
        self.luma
    }

    /// Light-on-dark becomes dark-on-light.
    pub fn inverted(&self) -> Self {
        Self {
            width: self.width,
            height: self.height,
            luma: self.luma.iter().map(|v| 255 - v).collect(),
        }
    }

    /// Half the size in each direction, each pixel the mean of a 2x2 block: smooths noise, blur
    /// and screen moire, and makes big codes cheaper to find.
    pub fn half(&self) -> Self {
        let (w, h) = (self.width as usize / 2, self.height as usize / 2);
        let src_w = self.width as usize;
        let mut luma = Vec::with_capacity(w * h);
        for y in 0..h {
            let top = &self.luma[2 * y * src_w..];
            let bottom = &self.luma[(2 * y + 1) * src_w..];
            for x in 0..w {
                let sum = u16::from(top[2 * x])
                    + u16::from(top[2 * x + 1])
                    + u16::from(bottom[2 * x])
                    + u16::from(bottom[2 * x + 1]);
                luma.push(((sum + 2) / 4) as u8);
            }
        }
        Self {
            width: w as u32,
            height: h as u32,
            luma,
        }
    }

    /// Twice the size in each direction (bilinear): gives tiny codes enough pixels per module.
    pub fn doubled(&self) -> Self {
        let (sw, sh) = (self.width as usize, self.height as usize);
        let (w, h) = (sw * 2, sh * 2);
        let mut luma = Vec::with_capacity(w * h);
        let at = |x: usize, y: usize| f32::from(self.luma[y.min(sh - 1) * sw + x.min(sw - 1)]);
        for y in 0..h {
            let fy = (y as f32 - 0.5) / 2.0;
            let y0 = fy.floor().max(0.0) as usize;
            let ty = (fy - y0 as f32).clamp(0.0, 1.0);
            for x in 0..w {
                let fx = (x as f32 - 0.5) / 2.0;
                let x0 = fx.floor().max(0.0) as usize;
                let tx = (fx - x0 as f32).clamp(0.0, 1.0);
                let top = at(x0, y0) * (1.0 - tx) + at(x0 + 1, y0) * tx;
                let bottom = at(x0, y0 + 1) * (1.0 - tx) + at(x0 + 1, y0 + 1) * tx;
                luma.push((top * (1.0 - ty) + bottom * ty).round() as u8);
            }
        }
        Self {
            width: w as u32,
            height: h as u32,
            luma,
        }
    }

    /// The Y bytes of a packed YUYV (YUY2) frame, with no colour conversion at all.
    pub fn from_yuyv(width: u32, height: u32, yuyv: &[u8]) -> Result<Self, ScanError> {
        let luma: Vec<u8> = yuyv.iter().step_by(2).copied().collect();
        Self::new(width, height, luma)
    }

    /// An MJPEG frame (or any JPEG) decoded straight to luma: only the Y plane is kept, no RGB
    /// frame is built. Webcam MJPEG without Huffman tables is handled by the decoder.
    pub fn from_jpeg(bytes: &[u8]) -> Result<Self, ScanError> {
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
        let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
        let luma = decoder
            .decode()
            .map_err(|e| ScanError::Jpeg(e.to_string()))?;
        let (w, h) = decoder
            .dimensions()
            .ok_or_else(|| ScanError::Jpeg("no frame header".into()))?;
        Self::new(w as u32, h as u32, luma)
    }

    /// An image file (PNG or JPEG) as a grayscale frame.
    pub fn open(path: &Path) -> Result<Self, ScanError> {
        let bytes = std::fs::read(path).map_err(|source| ScanError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_image_bytes(&bytes).map_err(|e| match e {
            ScanError::Image { reason, .. } => ScanError::Image {
                path: path.to_owned(),
                reason,
            },
            ScanError::Jpeg(reason) => ScanError::Image {
                path: path.to_owned(),
                reason,
            },
            other => other,
        })
    }

    /// Encoded image bytes (PNG or JPEG) as a grayscale frame.
    pub fn from_image_bytes(bytes: &[u8]) -> Result<Self, ScanError> {
        if bytes.starts_with(&[0xFF, 0xD8]) {
            return Self::from_jpeg(bytes);
        }
        let image = image::load_from_memory(bytes).map_err(|e| ScanError::Image {
            path: PathBuf::new(),
            reason: e.to_string(),
        })?;
        let gray = image.into_luma8();
        let (w, h) = gray.dimensions();
        Self::new(w, h, gray.into_raw())
    }

    /// The frame as an `image` buffer (for writing the synthetic set to disk).
    pub fn to_image(&self) -> image::GrayImage {
        image::GrayImage::from_raw(self.width, self.height, self.luma.clone())
            .unwrap_or_else(|| image::GrayImage::new(self.width, self.height))
    }
}

/// Something that yields grayscale frames: the camera, image files, a folder replay.
///
/// `Ok(None)` means the source has ended (the last file was read); a live camera never ends.
pub trait FrameSource {
    fn next_frame(&mut self) -> Result<Option<GrayFrame>, ScanError>;
}

/// A list of image files, each read once, in order.
#[derive(Debug)]
pub struct ImageFiles {
    paths: std::vec::IntoIter<PathBuf>,
}

impl ImageFiles {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            paths: paths.into_iter(),
        }
    }
}

impl FrameSource for ImageFiles {
    fn next_frame(&mut self) -> Result<Option<GrayFrame>, ScanError> {
        match self.paths.next() {
            Some(path) => GrayFrame::open(&path).map(Some),
            None => Ok(None),
        }
    }
}

/// A one-slot hand-off: the producer overwrites, the consumer takes the newest frame. A slow
/// decoder therefore never works through a queue of stale frames; the frames it skipped are
/// simply gone.
#[derive(Debug, Default)]
pub struct LatestFrame {
    slot: Mutex<Slot>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct Slot {
    frame: Option<GrayFrame>,
    /// Frames overwritten before anyone took them.
    dropped: u64,
    closed: bool,
}

impl LatestFrame {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A producer that panicked while holding the lock left a whole frame or none: go on.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a frame in the slot, replacing one that was not taken yet.
    pub fn put(&self, frame: GrayFrame) {
        let mut slot = self.lock();
        if slot.frame.replace(frame).is_some() {
            slot.dropped += 1;
        }
        drop(slot);
        self.ready.notify_one();
    }

    /// Takes the newest frame if there is one, without waiting.
    pub fn try_take(&self) -> Option<GrayFrame> {
        self.lock().frame.take()
    }

    /// Waits up to `timeout` for a frame. `None` on timeout, or when the producer has closed the
    /// slot and it is empty.
    pub fn take(&self, timeout: Duration) -> Option<GrayFrame> {
        let slot = self.lock();
        let (mut slot, _) = self
            .ready
            .wait_timeout_while(slot, timeout, |s| s.frame.is_none() && !s.closed)
            .unwrap_or_else(|e| e.into_inner());
        slot.frame.take()
    }

    /// The producer is done: wakes a waiting consumer.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// How many frames were overwritten before the consumer took them.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

/// Opens a source with `open` on a thread of its own (a camera handle may not move between
/// threads), then puts every frame in `slot` until the source ends, fails or the consumer closes
/// the slot. The thread's result is the error that stopped it; the slot is closed either way.
pub fn spawn_producer<S, F>(
    open: F,
    slot: Arc<LatestFrame>,
) -> std::io::Result<JoinHandle<Result<(), ScanError>>>
where
    S: FrameSource,
    F: Fn() -> Result<S, ScanError> + Send + 'static,
{
    std::thread::Builder::new()
        .name("frame-source".into())
        .spawn(move || {
            let result = produce(&open, &slot, RECONNECT_START);
            slot.close();
            result
        })
}

/// First wait before reopening a lost camera; it doubles up to [`RECONNECT_CAP`].
const RECONNECT_START: Duration = Duration::from_millis(250);
const RECONNECT_CAP: Duration = Duration::from_secs(5);

/// Reads frames into `slot` until the source ends or the slot is closed. A frame that cannot be
/// read (a corrupt JPEG, a short buffer) is skipped; a lost camera is reopened with a growing
/// wait, so one bad frame or an unplugged cable never ends the gate's camera for the day. Only a
/// source that cannot be opened at all is an error.
fn produce<S: FrameSource>(
    open: &dyn Fn() -> Result<S, ScanError>,
    slot: &LatestFrame,
    reconnect_start: Duration,
) -> Result<(), ScanError> {
    let mut source = open()?;
    let mut bad_frames: u64 = 0;
    loop {
        if slot.is_closed() {
            return Ok(());
        }
        match source.next_frame() {
            Ok(Some(frame)) => slot.put(frame),
            Ok(None) => return Ok(()),
            Err(ScanError::Camera(message)) => {
                tracing::warn!(error = %message, "camera lost: reconnecting");
                let mut wait = reconnect_start;
                source = loop {
                    std::thread::sleep(wait);
                    if slot.is_closed() {
                        return Ok(());
                    }
                    match open() {
                        Ok(source) => break source,
                        Err(_) => wait = (wait * 2).min(RECONNECT_CAP),
                    }
                };
                tracing::info!("camera back");
            }
            Err(err) => {
                bad_frames += 1;
                if bad_frames.is_power_of_two() {
                    tracing::warn!(error = %err, bad_frames, "a camera frame could not be read: skipped");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames, a corrupt one, a lost camera (reopened), more frames, the end.
    #[test]
    fn bad_frames_are_skipped_and_a_lost_camera_is_reopened() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Flaky {
            script: Vec<Result<Option<u8>, ScanError>>,
        }
        impl FrameSource for Flaky {
            fn next_frame(&mut self) -> Result<Option<GrayFrame>, ScanError> {
                if self.script.is_empty() {
                    return Ok(None);
                }
                match self.script.remove(0) {
                    Ok(Some(v)) => Ok(Some(frame(v))),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
        let opens = Arc::new(AtomicUsize::new(0));
        let open = {
            let opens = opens.clone();
            move || -> Result<Flaky, ScanError> {
                let n = opens.fetch_add(1, Ordering::SeqCst);
                match n {
                    0 => Ok(Flaky {
                        script: vec![
                            Ok(Some(1)),
                            Err(ScanError::Jpeg("truncated".into())),
                            Ok(Some(2)),
                            Err(ScanError::Camera("device gone".into())),
                        ],
                    }),
                    // The first reconnect finds nothing plugged in yet.
                    1 => Err(ScanError::Camera("no such device".into())),
                    _ => Ok(Flaky {
                        script: vec![Ok(Some(3))],
                    }),
                }
            }
        };
        let slot = LatestFrame::new();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let consumer = {
            let (slot, seen) = (slot.clone(), seen.clone());
            std::thread::spawn(move || {
                while let Some(f) = slot.take(Duration::from_secs(5)) {
                    seen.lock().unwrap().push(f);
                }
            })
        };
        let result = produce(&open, &slot, Duration::from_millis(1));
        slot.close();
        consumer.join().unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(opens.load(Ordering::SeqCst), 3);
        assert!(!seen.lock().unwrap().is_empty());
        // Only a camera that cannot be opened at all is an error.
        let never = || -> Result<Flaky, ScanError> { Err(ScanError::Camera("none".into())) };
        assert!(produce(&never, &LatestFrame::new(), Duration::from_millis(1)).is_err());
    }

    fn frame(value: u8) -> GrayFrame {
        GrayFrame::new(2, 2, vec![value; 4]).unwrap()
    }

    #[test]
    fn a_frame_of_the_wrong_length_is_refused() {
        assert!(matches!(
            GrayFrame::new(3, 2, vec![0; 5]),
            Err(ScanError::FrameSize { expected: 6, .. })
        ));
    }

    #[test]
    fn the_consumer_gets_the_newest_frame_only() {
        let slot = LatestFrame::new();
        slot.put(frame(1));
        slot.put(frame(2));
        slot.put(frame(3));
        assert_eq!(slot.try_take(), Some(frame(3)));
        assert_eq!(slot.try_take(), None);
        assert_eq!(slot.dropped(), 2);
    }

    #[test]
    fn a_closed_empty_slot_does_not_block() {
        let slot = LatestFrame::new();
        slot.close();
        assert_eq!(slot.take(Duration::from_secs(60)), None);
    }

    #[test]
    fn a_producer_thread_feeds_the_slot_and_closes_it() {
        struct Count(u8);
        impl FrameSource for Count {
            fn next_frame(&mut self) -> Result<Option<GrayFrame>, ScanError> {
                self.0 += 1;
                Ok((self.0 <= 5).then(|| frame(self.0)))
            }
        }
        let slot = LatestFrame::new();
        let handle = spawn_producer(|| Ok(Count(0)), slot.clone()).unwrap();
        handle.join().unwrap().unwrap();
        assert!(slot.is_closed());
        assert_eq!(slot.take(Duration::from_secs(1)), Some(frame(5)));
    }

    #[test]
    fn yuyv_keeps_the_y_bytes() {
        let yuyv = [10, 128, 20, 128, 30, 128, 40, 128];
        let f = GrayFrame::from_yuyv(2, 2, &yuyv).unwrap();
        assert_eq!(f.luma(), &[10, 20, 30, 40]);
    }

    #[test]
    fn jpeg_decodes_straight_to_luma() {
        let gray = image::GrayImage::from_fn(16, 8, |x, _| image::Luma([(x * 16) as u8]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageLuma8(gray)
            .to_rgb8()
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        let f = GrayFrame::from_image_bytes(&bytes).unwrap();
        assert_eq!((f.width(), f.height()), (16, 8));
        assert!(
            f.luma()[0] < 30 && f.luma()[15] > 220,
            "{:?}",
            &f.luma()[..16]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(GrayFrame::from_image_bytes(b"not an image").is_err());
        assert!(GrayFrame::from_image_bytes(&[0xFF, 0xD8, 0, 1, 2]).is_err());
    }

    #[test]
    fn half_and_doubled_keep_the_picture() {
        let f = GrayFrame::new(4, 2, vec![0, 0, 255, 255, 0, 0, 255, 255]).unwrap();
        assert_eq!(f.half().luma(), &[0, 255]);
        let d = f.half().doubled();
        assert_eq!((d.width(), d.height()), (4, 2));
        assert!(d.luma()[0] < 64 && d.luma()[3] > 192);
    }
}
