//! Badges: the QR code of a ticket, ready to print (SVG) or show on screen.
//!
//! Codes are rendered at error-correction level M in alphanumeric mode (a Gatepass signed code
//! uses only QR-alphanumeric characters), with the standard four-module quiet zone.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Why a badge could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum BadgeError {
    #[error("the code is too long for a badge QR: {0}")]
    TooLong(String),
}

/// The badge QR's smallest width, in the SVG's units (pixels at 96 dpi: about 8.5 cm).
pub const BADGE_QR_PX: u32 = 320;

/// A rendered badge QR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadgeQr {
    /// QR version (size class, 1 to 40).
    pub version: i16,
    /// SVG document, scalable for any printer.
    pub svg: String,
}

/// Renders `code` as a QR badge, at least `min_px` pixels wide in the SVG's own units.
pub fn render(code: &str, min_px: u32) -> Result<BadgeQr, BadgeError> {
    let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)
        .map_err(|e| BadgeError::TooLong(e.to_string()))?;
    let version = match qr.version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
    };
    let svg = qr
        .render::<svg::Color<'_>>()
        .min_dimensions(min_px, min_px)
        .quiet_zone(true)
        .build();
    Ok(BadgeQr { version, svg })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_code_fits_a_small_qr() {
        let code = "GP1:$50B90  OITDYNEK/J4081K7F9BB90  OITDF7FCYH325Z146X9B90  OITD*YEH-NITUVELU1B:LD6$HHG2:FLMTAAB2Z.QM:639B1OGP6I/U2J1F996 WMHDC72LJL838R+LLX1LO49DJK*05E05-TRNH84WM+E1EGOE.7CX6L+QBKS";
        let badge = render(code, 300).unwrap();
        assert!(badge.version <= 10, "version {}", badge.version);
        assert!(badge.svg.starts_with("<?xml"));
        assert!(badge.svg.contains("<svg"));
    }

    #[test]
    fn an_absurdly_long_code_is_an_error() {
        assert!(render(&"X".repeat(10_000), 100).is_err());
    }
}
