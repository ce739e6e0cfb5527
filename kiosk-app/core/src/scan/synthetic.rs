//! The synthetic image set the decoder ladder is measured on: genuine Gatepass payloads (signed
//! `GP1:` codes from `sync_protocol::ticket_code::issue_server_code`, and opaque imported codes)
//! rendered as QR codes at level M and photographed by code: placed, warped and spoiled by one
//! distortion each, with seeded randomness so the set is the same on every machine.
//!
//! Used by tests/decode.rs (the hit-rate table), the decode benchmark and
//! `examples/synthetic.rs` (which writes the set to a folder). Not used by the kiosk at run time.

use std::f64::consts::PI;

use qrcode::{Color, EcLevel, QrCode};
use rand::Rng;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sync_protocol::UnixMillis;
use sync_protocol::crypto::SecretKey;
use sync_protocol::ids::{EventId, TicketId, TicketTypeId};
use sync_protocol::ticket_code::{CodeClaims, issue_server_code};

use super::GrayFrame;

/// What spoils a sample. Each sample has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Distortion {
    /// Axis-aligned, whole pixels per module, dark on light: every decoder must read these.
    Clean,
    /// 1.2 to 2 pixels per module on 640x480.
    Small,
    /// 7 to 9 pixels per module on a 1280x720 frame.
    Large,
    /// Turned by any angle.
    Rotation,
    /// Keystoned: a badge held at an angle.
    Perspective,
    /// Out of focus: Gaussian blur of 0.35 to 0.8 modules.
    Blur,
    /// Sensor noise: Gaussian, sigma 25 to 55 grey levels.
    Noise,
    /// 25 to 45 grey levels between ink and paper.
    LowContrast,
    /// Light on dark (a dark-mode phone screen or a printed negative).
    Inverted,
    /// A bright blob (a lamp's reflection) over part of the code.
    Glare,
    /// A phone screen filmed: a fine sinusoidal pattern over the code.
    Moire,
}

impl Distortion {
    pub const ALL: [Distortion; 11] = [
        Distortion::Clean,
        Distortion::Small,
        Distortion::Large,
        Distortion::Rotation,
        Distortion::Perspective,
        Distortion::Blur,
        Distortion::Noise,
        Distortion::LowContrast,
        Distortion::Inverted,
        Distortion::Glare,
        Distortion::Moire,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Distortion::Clean => "clean",
            Distortion::Small => "small",
            Distortion::Large => "large",
            Distortion::Rotation => "rotation",
            Distortion::Perspective => "perspective",
            Distortion::Blur => "blur",
            Distortion::Noise => "noise",
            Distortion::LowContrast => "low_contrast",
            Distortion::Inverted => "inverted",
            Distortion::Glare => "glare",
            Distortion::Moire => "moire",
        }
    }
}

/// One image of the set and the payload it carries.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub distortion: Distortion,
    pub payload: Vec<u8>,
    pub frame: GrayFrame,
}

/// `per_distortion` samples of every distortion, reproducible from `seed`.
pub fn generate(seed: u64, per_distortion: usize) -> Vec<Sample> {
    let issuer = Issuer::new(seed);
    let mut samples = Vec::with_capacity(per_distortion * Distortion::ALL.len());
    for (d, distortion) in Distortion::ALL.into_iter().enumerate() {
        for i in 0..per_distortion {
            let sample_seed =
                seed ^ ((d as u64) << 32 | i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let rng = &mut ChaCha20Rng::seed_from_u64(sample_seed);
            let payload = issuer.payload(rng);
            let frame = photograph(&payload, distortion, rng);
            samples.push(Sample {
                name: format!("{}-{i:03}", distortion.name()),
                distortion,
                payload,
                frame,
            });
        }
    }
    samples
}

/// Makes genuine payloads: four in five are signed `GP1:` codes, the rest opaque imported codes.
struct Issuer {
    event: EventId,
    key: SecretKey,
}

impl Issuer {
    fn new(seed: u64) -> Self {
        let rng = &mut ChaCha20Rng::seed_from_u64(seed);
        let mut key_seed = [0u8; 32];
        rng.fill(&mut key_seed);
        Self {
            event: EventId::new(UnixMillis(1_750_000_000_000), rng),
            key: SecretKey::from_seed(&key_seed),
        }
    }

    fn payload(&self, rng: &mut ChaCha20Rng) -> Vec<u8> {
        let now = UnixMillis(1_750_000_000_000 + rng.gen_range(0..10_000_000));
        if rng.gen_bool(0.8) {
            let claims = CodeClaims {
                ticket_id: TicketId::new(now, rng),
                ticket_type_id: TicketTypeId::new(now, rng),
                valid_from: rng.gen_bool(0.5).then_some(now),
                valid_until: rng.gen_bool(0.5).then(|| UnixMillis(now.0 + 86_400_000)),
            };
            if let Ok(code) = issue_server_code(self.event, &claims, &self.key) {
                return code.as_str().as_bytes().to_vec();
            }
        }
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let len = rng.gen_range(8..=32);
        (0..len)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
            .collect()
    }
}

/// The QR modules of `payload` with a 4-module quiet zone: `(side, dark)`; none for an empty
/// payload (a frame with no code).
fn modules(payload: &[u8]) -> (usize, Vec<bool>) {
    if payload.is_empty() {
        return (0, Vec::new());
    }
    let Ok(code) = QrCode::with_error_correction_level(payload, EcLevel::M) else {
        return (0, Vec::new());
    };
    let w = code.width();
    let dark: Vec<bool> = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    let side = w + 8;
    let mut grid = vec![false; side * side];
    for y in 0..w {
        for x in 0..w {
            grid[(y + 4) * side + x + 4] = dark[y * w + x];
        }
    }
    (side, grid)
}

/// A projective map from the unit square onto a quad, and back.
struct Homography {
    inverse: [[f64; 3]; 3],
}

impl Homography {
    /// Maps (0,0), (1,0), (1,1), (0,1) onto `quad` (Heckbert's square-to-quad).
    fn unit_square_to(quad: [(f64, f64); 4]) -> Self {
        let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = quad;
        let (sx, sy) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
        let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
        let det = dx1 * dy2 - dx2 * dy1;
        let g = (sx * dy2 - dx2 * sy) / det;
        let h = (dx1 * sy - sx * dy1) / det;
        let m = [
            [x1 - x0 + g * x1, x3 - x0 + h * x3, x0],
            [y1 - y0 + g * y1, y3 - y0 + h * y3, y0],
            [g, h, 1.0],
        ];
        Self { inverse: invert(m) }
    }

    /// The unit-square coordinates of image point (x, y).
    fn back(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.inverse;
        let w = m[2][0] * x + m[2][1] * y + m[2][2];
        (
            (m[0][0] * x + m[0][1] * y + m[0][2]) / w,
            (m[1][0] * x + m[1][1] * y + m[1][2]) / w,
        )
    }
}

fn invert(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let c = |r: usize, k: usize| {
        let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
        let (k1, k2) = ((k + 1) % 3, (k + 2) % 3);
        m[r1][k1] * m[r2][k2] - m[r1][k2] * m[r2][k1]
    };
    let det = m[0][0] * c(0, 0) + m[0][1] * c(0, 1) + m[0][2] * c(0, 2);
    let mut inv = [[0.0; 3]; 3];
    for (r, row) in inv.iter_mut().enumerate() {
        for (k, cell) in row.iter_mut().enumerate() {
            *cell = c(k, r) / det;
        }
    }
    inv
}

/// Renders `payload` on a canvas as `distortion` says.
pub fn photograph(payload: &[u8], distortion: Distortion, rng: &mut ChaCha20Rng) -> GrayFrame {
    use Distortion as D;
    let (width, height) = if distortion == D::Large {
        (1280, 720)
    } else {
        (640, 480)
    };
    let (side, grid) = modules(payload);
    let module_px = match distortion {
        D::Clean => f64::from(rng.gen_range(3..=6)),
        D::Small => rng.gen_range(1.2..2.0),
        D::Large => rng.gen_range(7.0..9.0),
        _ => rng.gen_range(2.5..6.0),
    };
    let size = (side as f64 * module_px).min(f64::from(height) * 0.95);
    let (ink, paper) = match distortion {
        D::LowContrast => {
            let mid: f64 = rng.gen_range(100.0..160.0);
            let gap: f64 = rng.gen_range(25.0..45.0);
            (mid - gap / 2.0, mid + gap / 2.0)
        }
        _ => (rng.gen_range(15.0..60.0), rng.gen_range(190.0..245.0)),
    };

    // Where the code lands: its corners, turned and keystoned for those distortions.
    let angle = match distortion {
        D::Rotation => rng.gen_range(-PI..PI),
        D::Perspective => rng.gen_range(-0.3..0.3),
        _ => 0.0,
    };
    let reach = if angle == 0.0 {
        size / 2.0
    } else {
        size / 2.0 * 2f64.sqrt()
    };
    let margin = 2.0;
    let cx = rng
        .gen_range(reach + margin..(f64::from(width) - reach - margin).max(reach + margin + 1.0));
    let cy = rng
        .gen_range(reach + margin..(f64::from(height) - reach - margin).max(reach + margin + 1.0));
    let (cx, cy) = if distortion == D::Clean {
        (cx.round(), cy.round())
    } else {
        (cx, cy)
    };
    let mut quad = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)].map(|(u, v)| {
        let (x, y) = (u * size, v * size);
        (
            cx + x * angle.cos() - y * angle.sin(),
            cy + x * angle.sin() + y * angle.cos(),
        )
    });
    if distortion == D::Perspective {
        // Keystone: one edge shrunk toward its middle, plus some jitter of every corner.
        let squeeze = rng.gen_range(0.1..0.3) * size / 2.0;
        let edge = rng.gen_range(0..4);
        let (a, b) = (edge, (edge + 1) % 4);
        let (ax, ay) = quad[a];
        let (bx, by) = quad[b];
        let len = ((bx - ax).powi(2) + (by - ay).powi(2)).sqrt();
        let (ux, uy) = ((bx - ax) / len, (by - ay) / len);
        quad[a] = (ax + ux * squeeze, ay + uy * squeeze);
        quad[b] = (bx - ux * squeeze, by - uy * squeeze);
        for corner in &mut quad {
            corner.0 += rng.gen_range(-0.04..0.04) * size;
            corner.1 += rng.gen_range(-0.04..0.04) * size;
        }
    }
    let map = Homography::unit_square_to(quad);

    // The background: a table with a gentle gradient.
    let table: f64 = rng.gen_range(70.0..170.0);
    let (gx, gy) = (rng.gen_range(-30.0..30.0), rng.gen_range(-30.0..30.0));
    let sub = [0.25, 0.75];
    let mut values = vec![0f64; (width * height) as usize];
    for y in 0..height as usize {
        for x in 0..width as usize {
            let background =
                table + gx * x as f64 / f64::from(width) + gy * y as f64 / f64::from(height);
            let mut total = 0.0;
            // 2x2 supersampling: edges anti-aliased as a lens would.
            for sy in sub {
                for sx in sub {
                    let (u, v) = map.back(x as f64 + sx, y as f64 + sy);
                    total += if (0.0..1.0).contains(&u) && (0.0..1.0).contains(&v) && side > 0 {
                        let (mx, my) = ((u * side as f64) as usize, (v * side as f64) as usize);
                        if grid[my * side + mx] { ink } else { paper }
                    } else {
                        background
                    };
                }
            }
            values[y * width as usize + x] = total / 4.0;
        }
    }

    match distortion {
        D::Glare => {
            let (bx, by) = (
                cx + rng.gen_range(-0.3..0.3) * size,
                cy + rng.gen_range(-0.3..0.3) * size,
            );
            let radius = rng.gen_range(0.1..0.25) * size;
            let strength = rng.gen_range(180.0..260.0);
            for (i, v) in values.iter_mut().enumerate() {
                let (x, y) = ((i % width as usize) as f64, (i / width as usize) as f64);
                let d2 = (x - bx).powi(2) + (y - by).powi(2);
                *v += strength * (-d2 / (2.0 * radius * radius)).exp();
            }
        }
        D::Moire => {
            let period = rng.gen_range(2.2..4.5);
            let amplitude = rng.gen_range(25.0..50.0);
            let theta: f64 = rng.gen_range(0.0..PI);
            let (c, s) = (theta.cos(), theta.sin());
            for (i, v) in values.iter_mut().enumerate() {
                let (x, y) = ((i % width as usize) as f64, (i / width as usize) as f64);
                *v += amplitude * (2.0 * PI * (x * c + y * s) / period).sin();
            }
        }
        D::Noise => {
            let sigma = rng.gen_range(25.0..55.0);
            for v in &mut values {
                *v += sigma * gaussian(rng);
            }
        }
        _ => {}
    }

    let luma: Vec<u8> = values
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    let mut frame = GrayFrame::new(width, height, luma)
        .unwrap_or_else(|_| GrayFrame::new(0, 0, Vec::new()).expect("an empty frame"));
    let blur_sigma = match distortion {
        D::Blur => Some(module_px * rng.gen_range(0.35..0.8)),
        D::Small | D::Moire => Some(0.5),
        _ => None,
    };
    if let Some(sigma) = blur_sigma {
        let blurred = image::imageops::blur(&frame.to_image(), sigma as f32);
        if let Ok(f) = GrayFrame::new(width, height, blurred.into_raw()) {
            frame = f;
        }
    }
    if distortion == D::Inverted {
        frame = frame.inverted();
    }
    frame
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut ChaCha20Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_is_reproducible_and_carries_genuine_codes() {
        let a = generate(7, 2);
        let b = generate(7, 2);
        assert_eq!(a.len(), 2 * Distortion::ALL.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.payload, y.payload);
            assert_eq!(x.frame, y.frame);
        }
        assert!(a.iter().any(|s| s.payload.starts_with(b"GP1:")));
    }

    #[test]
    fn a_clean_sample_reads() {
        let sample = &generate(3, 1)[0];
        assert_eq!(sample.distortion, Distortion::Clean);
        let read = super::super::decode::guarded(&super::super::decode::Rxing, &sample.frame);
        assert_eq!(read, vec![sample.payload.clone()]);
    }
}
