//! The USB camera through nokhwa (V4L2 on Linux), behind the cargo feature `camera`.
//!
//! Format negotiation, per camera in turn: MJPEG 640x480 at 30 fps, MJPEG 1280x720 at 30 fps,
//! YUYV near 640x480, then any format we can read; when a camera accepts none, the next camera.
//! Frames become grayscale without an RGB detour: MJPEG is decoded straight to luma, and YUYV
//! (and NV12) give their Y bytes as they are. Run it with `frame::spawn_producer` so capture has
//! its own thread and the decoder takes only the newest frame.

use nokhwa::Camera;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};

use super::{FrameSource, GrayFrame, ScanError};

/// Formats we can turn into grayscale cheaply, best first.
const READABLE: &[FrameFormat] = &[
    FrameFormat::MJPEG,
    FrameFormat::YUYV,
    FrameFormat::GRAY,
    FrameFormat::NV12,
];

/// An open camera streaming frames.
pub struct CameraSource {
    camera: Camera,
    format: CameraFormat,
}

impl CameraSource {
    /// Opens the first camera that accepts one of our formats (see the module doc).
    pub fn open_first() -> Result<Self, ScanError> {
        let backend = nokhwa::native_api_backend().unwrap_or(ApiBackend::Auto);
        let cameras = nokhwa::query(backend).map_err(|e| ScanError::Camera(e.to_string()))?;
        let mut last_error = ScanError::Camera("no camera found".into());
        for info in cameras {
            match Self::open(info.index().clone()) {
                Ok(source) => return Ok(source),
                Err(e) => {
                    tracing::warn!(camera = %info.human_name(), error = %e, "camera skipped");
                    last_error = e;
                }
            }
        }
        Err(last_error)
    }

    /// Opens camera `index`, trying the formats in order.
    pub fn open(index: CameraIndex) -> Result<Self, ScanError> {
        let mjpeg = |w, h| {
            RequestedFormat::with_formats(
                RequestedFormatType::Exact(CameraFormat::new(
                    Resolution::new(w, h),
                    FrameFormat::MJPEG,
                    30,
                )),
                &[FrameFormat::MJPEG],
            )
        };
        let plans = [
            mjpeg(640, 480),
            mjpeg(1280, 720),
            RequestedFormat::with_formats(
                RequestedFormatType::Closest(CameraFormat::new(
                    Resolution::new(640, 480),
                    FrameFormat::YUYV,
                    30,
                )),
                &[FrameFormat::YUYV],
            ),
            RequestedFormat::with_formats(RequestedFormatType::None, READABLE),
        ];
        let mut last_error = String::from("no format offered");
        for plan in plans {
            let opened = Camera::new(index.clone(), plan).and_then(|mut camera| {
                camera.open_stream()?;
                Ok(camera)
            });
            match opened {
                Ok(camera) => {
                    let format = camera.camera_format();
                    tracing::info!(%format, "camera streaming");
                    return Ok(Self { camera, format });
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(ScanError::Camera(format!("camera {index}: {last_error}")))
    }

    /// The negotiated format.
    pub fn format(&self) -> CameraFormat {
        self.format
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Option<GrayFrame>, ScanError> {
        let (width, height) = (self.format.width(), self.format.height());
        let format = self.format.format();
        let raw = self
            .camera
            .frame_raw()
            .map_err(|e| ScanError::Camera(e.to_string()))?;
        let pixels = width as usize * height as usize;
        let frame = match format {
            FrameFormat::MJPEG => GrayFrame::from_jpeg(&raw)?,
            FrameFormat::YUYV => GrayFrame::from_yuyv(width, height, &raw)?,
            FrameFormat::GRAY | FrameFormat::NV12 => {
                let luma = raw.get(..pixels).unwrap_or(&raw).to_vec();
                GrayFrame::new(width, height, luma)?
            }
            FrameFormat::RAWRGB | FrameFormat::RAWBGR => {
                let luma = raw
                    .chunks_exact(3)
                    .map(|p| ((u16::from(p[0]) + 2 * u16::from(p[1]) + u16::from(p[2])) / 4) as u8)
                    .collect();
                GrayFrame::new(width, height, luma)?
            }
        };
        Ok(Some(frame))
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        let _ = self.camera.stop_stream();
    }
}
