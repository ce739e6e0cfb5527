//! A folder of images played as if it were a camera, for demos and tests: the images (PNG, JPEG)
//! in name order, cycled for ever at a set rate. Files that are not readable images are skipped
//! with a warning; a folder with none is an error.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{FrameSource, GrayFrame, ScanError};

pub struct DirectoryReplay {
    frames: Vec<GrayFrame>,
    next: usize,
    interval: Duration,
    due: Option<Instant>,
}

impl DirectoryReplay {
    /// Loads every image of `dir` now (a replay folder is small), to play at `fps` frames per
    /// second; `fps` of 0 plays as fast as frames are asked for.
    pub fn open(dir: &Path, fps: f64) -> Result<Self, ScanError> {
        let io = |source| ScanError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        let frames: Vec<GrayFrame> = paths
            .iter()
            .filter_map(|path| match GrayFrame::open(path) {
                Ok(frame) => Some(frame),
                Err(e) => {
                    tracing::warn!(error = %e, "replay: skipped");
                    None
                }
            })
            .collect();
        if frames.is_empty() {
            return Err(ScanError::EmptyReplay(dir.to_owned()));
        }
        let interval = if fps > 0.0 && fps.is_finite() {
            Duration::from_secs_f64(1.0 / fps)
        } else {
            Duration::ZERO
        };
        Ok(Self {
            frames,
            next: 0,
            interval,
            due: None,
        })
    }

    /// How many images the replay cycles through.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

impl FrameSource for DirectoryReplay {
    fn next_frame(&mut self) -> Result<Option<GrayFrame>, ScanError> {
        if let Some(due) = self.due {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        self.due = Some(self.due.unwrap_or_else(Instant::now) + self.interval);
        let frame = self.frames[self.next % self.frames.len()].clone();
        self.next = (self.next + 1) % self.frames.len();
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gatepass-replay-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn cycles_through_the_images_in_name_order_and_skips_the_rest() {
        let dir = temp_dir("cycle");
        for (name, value) in [("b.png", 20u8), ("a.png", 10)] {
            image::GrayImage::from_pixel(4, 4, image::Luma([value]))
                .save(dir.join(name))
                .unwrap();
        }
        std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
        let mut replay = DirectoryReplay::open(&dir, 0.0).unwrap();
        assert_eq!(replay.len(), 2);
        let firsts: Vec<u8> = (0..5)
            .map(|_| replay.next_frame().unwrap().unwrap().luma()[0])
            .collect();
        assert_eq!(firsts, [10, 20, 10, 20, 10]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn plays_at_the_set_rate() {
        let dir = temp_dir("rate");
        image::GrayImage::new(2, 2).save(dir.join("a.png")).unwrap();
        let mut replay = DirectoryReplay::open(&dir, 50.0).unwrap();
        let start = Instant::now();
        for _ in 0..6 {
            replay.next_frame().unwrap();
        }
        // Five intervals of 20 ms after the first frame.
        assert!(start.elapsed() >= Duration::from_millis(100));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_folder_without_images_is_an_error() {
        let dir = temp_dir("empty");
        assert!(matches!(
            DirectoryReplay::open(&dir, 0.0),
            Err(ScanError::EmptyReplay(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
