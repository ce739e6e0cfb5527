//! Ticket codes: what a badge's QR code says, parsed from untrusted input, and signed codes.
//!
//! A code is one of two kinds:
//!
//! - **Signed** (`GP1:` followed by Base45): a compact binary statement signed with Ed25519 by the
//!   server or by an enrolled kiosk, so a kiosk admits a ticket sold or registered after its last
//!   sync. Binary layout:
//!
//!   ```text
//!   version (1 = 0x01) | flags | [device id, 16] | [badge certificate, 100] | ticket id, 16
//!   | ticket type id, 16 | [valid_from, u32 BE unix seconds] | [valid_until, u32 BE unix seconds]
//!   | signature, 64
//!   ```
//!
//!   Flags: bit 0 valid_from present, bit 1 valid_until present, bit 2 signed by a device (the
//!   device id follows), bit 3 the device's badge certificate follows (only with bit 2: see
//!   [`BadgeCertificate`]; a kiosk then needs only the server key to verify the badge, even one
//!   from a kiosk that enrolled after its package); other bits must be zero. The signature covers the event id (16 bytes,
//!   not transmitted: the kiosk knows its event) followed by every byte before the signature, so a
//!   code of another event does not verify. The server key also signs JSON, which can never hold
//!   the raw byte 0x01 found right after the event id here, so the two cannot be confused.
//!   Base45 and the prefix use only QR alphanumeric characters, so the whole code stays in QR
//!   alphanumeric mode; Base45 text never ends in a space (the last character of a group is at
//!   most the 33rd of the alphabet), so trimming input is safe. Lowercase
//!   input (a keyboard-wedge scanner with caps lock) is accepted; non-canonical Base45 is not,
//!   so one code has exactly one text, [`TicketCode::as_str`], the key of blind index and debounce.
//!
//!   | signer | validity bounds | bytes | characters (with prefix) | QR version at level M |
//!   |---|---|---|---|---|
//!   | server | none | 98 | 151 | 6 |
//!   | server | both | 106 | 163 | 7 |
//!   | device | none | 114 | 175 | 7 |
//!   | device | both | 122 | 187 | 8 |
//!   | device, certified | none | 214 | 325 | 11 |
//!   | device, certified | both | 222 | 337 | 11 |
//!
//! - **Opaque**: any other text of 1 to 128 printable ASCII characters, from an imported ticket
//!   list; it is looked up in the kiosk's store, never interpreted. Text starting with the prefix
//!   (in any case) is never opaque: an import must refuse such codes, as parsing does.
//!
//! Input is trimmed of surrounding whitespace. Parsing never panics, whatever the bytes.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::certificate::{
    BADGE_CERTIFICATE_LEN, BadgeCertificate, CertificateError, CertificateSet,
};
use crate::crypto::{PublicKey, SecretKey};
use crate::ids::{DeviceId, EventId, TicketId, TicketTypeId};
use crate::time::UnixMillis;

/// Text prefix of a signed code (QR alphanumeric characters only).
pub const SIGNED_PREFIX: &str = "GP1:";
/// Longest opaque code, in characters.
pub const MAX_OPAQUE_LEN: usize = 128;

const VERSION: u8 = 1;
const FLAG_VALID_FROM: u8 = 0b001;
const FLAG_VALID_UNTIL: u8 = 0b010;
const FLAG_DEVICE: u8 = 0b100;
const FLAG_CERTIFIED: u8 = 0b1000;
const KNOWN_FLAGS: u8 = FLAG_VALID_FROM | FLAG_VALID_UNTIL | FLAG_DEVICE | FLAG_CERTIFIED;
const SIGNATURE_LEN: usize = 64;
/// Longest binary signed code: every optional field present.
const MAX_SIGNED_LEN: usize = 1 + 1 + 16 + BADGE_CERTIFICATE_LEN + 16 + 16 + 4 + 4 + SIGNATURE_LEN;
/// Base45 makes 3 characters of every 2 bytes.
const MAX_BASE45_LEN: usize = MAX_SIGNED_LEN.div_ceil(2) * 3;

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("empty code")]
    Empty,
    #[error("code is not text (not UTF-8)")]
    NotText,
    #[error("code of {len} characters is longer than {MAX_OPAQUE_LEN}")]
    TooLong { len: usize },
    #[error("code contains a character other than printable ASCII")]
    InvalidCharacter,
    #[error("malformed signed code: {0}")]
    Malformed(&'static str),
    #[error("unsupported signed-code version {0}")]
    UnsupportedVersion(u8),
    #[error("signature does not verify: forged, altered, or for another event")]
    BadSignature,
    #[error("signed by device {0}, which has no certificate")]
    UnknownSigner(DeviceId),
    #[error("signed by device {0}, which is revoked")]
    RevokedSigner(DeviceId),
    #[error("validity bound outside 1970..2106 in whole seconds")]
    TimeOutOfRange,
    #[error("valid_from is after valid_until")]
    InvalidValidity,
}

/// Who signed a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signer {
    /// The event's server key.
    Server,
    /// An enrolled kiosk (a walk-in badge), certified by the server.
    Device(DeviceId),
}

/// What a signed code states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeClaims {
    pub ticket_id: TicketId,
    pub ticket_type_id: TicketTypeId,
    /// Not valid before (carried in whole seconds, rounded down).
    pub valid_from: Option<UnixMillis>,
    /// Not valid after (carried in whole seconds, rounded down).
    pub valid_until: Option<UnixMillis>,
}

/// A parsed code: signed or opaque.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TicketCode {
    Signed(SignedCode),
    Opaque(OpaqueCode),
}

impl TicketCode {
    /// Parses scanned or typed text. Never panics.
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let text = text.trim();
        let prefix = SIGNED_PREFIX.as_bytes();
        match text.as_bytes().get(..prefix.len()) {
            Some(head) if head.eq_ignore_ascii_case(prefix) => {
                // The prefix is ASCII, so `prefix.len()` is a character boundary.
                SignedCode::parse_base45(&text[prefix.len()..]).map(Self::Signed)
            }
            _ => OpaqueCode::parse(text).map(Self::Opaque),
        }
    }

    /// Parses a raw QR payload, which may be any bytes. Never panics.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, CodeError> {
        Self::parse(std::str::from_utf8(bytes).map_err(|_| CodeError::NotText)?)
    }

    /// The canonical text: the key for lookups (blind index), debounce and printing.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Signed(code) => code.as_str(),
            Self::Opaque(code) => code.as_str(),
        }
    }
}

impl FromStr for TicketCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        Self::parse(s)
    }
}

impl From<SignedCode> for TicketCode {
    fn from(code: SignedCode) -> Self {
        Self::Signed(code)
    }
}

/// A code from an imported ticket list: 1 to 128 printable ASCII characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OpaqueCode(String);

impl OpaqueCode {
    fn parse(trimmed: &str) -> Result<Self, CodeError> {
        if trimmed.is_empty() {
            return Err(CodeError::Empty);
        }
        if !trimmed.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(CodeError::InvalidCharacter);
        }
        if trimmed.len() > MAX_OPAQUE_LEN {
            return Err(CodeError::TooLong { len: trimmed.len() });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The code, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OpaqueCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A bearer secret: never in logs.
        write!(f, "OpaqueCode({} chars)", self.0.len())
    }
}

/// A signed code, parsed but not yet verified: see [`verify`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SignedCode {
    /// Canonical text, prefix included.
    text: String,
    /// The binary form, signature included.
    bytes: Vec<u8>,
    signer: Signer,
    /// The code carries the signing kiosk's badge certificate (right after the device id).
    certified: bool,
    claims: CodeClaims,
}

impl SignedCode {
    fn parse_base45(body: &str) -> Result<Self, CodeError> {
        if body.len() > MAX_BASE45_LEN {
            return Err(CodeError::Malformed("too long"));
        }
        let body = body.to_ascii_uppercase();
        let bytes = base45::decode(&body).map_err(|_| CodeError::Malformed("not Base45"))?;
        if base45::encode(&bytes) != body {
            return Err(CodeError::Malformed("non-canonical Base45"));
        }
        Self::from_binary(bytes)
    }

    fn from_binary(bytes: Vec<u8>) -> Result<Self, CodeError> {
        let (signer, certified, claims) = decode_binary(&bytes)?;
        Ok(Self {
            text: format!("{SIGNED_PREFIX}{}", base45::encode(&bytes)),
            bytes,
            signer,
            certified,
            claims,
        })
    }

    /// The canonical text, prefix included.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Who claims to have signed it (not yet verified).
    pub fn signer(&self) -> Signer {
        self.signer
    }

    /// Length of the binary form.
    pub fn binary_len(&self) -> usize {
        self.bytes.len()
    }

    /// The signing kiosk's badge certificate carried in the code (not yet verified).
    pub fn badge_certificate(&self) -> Option<BadgeCertificate> {
        let Signer::Device(device_id) = self.signer else {
            return None;
        };
        if !self.certified {
            return None;
        }
        let bytes: &[u8; BADGE_CERTIFICATE_LEN] = self
            .bytes
            .get(18..18 + BADGE_CERTIFICATE_LEN)?
            .try_into()
            .ok()?;
        BadgeCertificate::from_bytes(device_id, bytes).ok()
    }
}

impl std::fmt::Debug for SignedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedCode")
            .field("signer", &self.signer)
            .field("ticket_id", &self.claims.ticket_id)
            .finish_non_exhaustive()
    }
}

/// A signed code whose signature verified for this event: its claims can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifiedCode {
    signer: Signer,
    claims: CodeClaims,
}

impl VerifiedCode {
    pub fn ticket_id(&self) -> TicketId {
        self.claims.ticket_id
    }

    pub fn ticket_type_id(&self) -> TicketTypeId {
        self.claims.ticket_type_id
    }

    pub fn valid_from(&self) -> Option<UnixMillis> {
        self.claims.valid_from
    }

    pub fn valid_until(&self) -> Option<UnixMillis> {
        self.claims.valid_until
    }

    pub fn signer(&self) -> Signer {
        self.signer
    }

    pub fn claims(&self) -> &CodeClaims {
        &self.claims
    }

    /// Whether `now` lies within the code's validity bounds (both inclusive).
    pub fn is_valid_at(&self, now: UnixMillis) -> bool {
        self.claims.valid_from.is_none_or(|from| now >= from)
            && self.claims.valid_until.is_none_or(|until| now <= until)
    }
}

/// Makes a code signed by the server key of `event_id`.
pub fn issue_server_code(
    event_id: EventId,
    claims: &CodeClaims,
    server_key: &SecretKey,
) -> Result<SignedCode, CodeError> {
    issue(event_id, Signer::Server, None, claims, server_key)
}

/// Makes a code signed by kiosk `device_id` with its certified key (a walk-in badge), verified
/// through the kiosk's certificate in the package.
pub fn issue_device_code(
    event_id: EventId,
    device_id: DeviceId,
    claims: &CodeClaims,
    device_key: &SecretKey,
) -> Result<SignedCode, CodeError> {
    issue(
        event_id,
        Signer::Device(device_id),
        None,
        claims,
        device_key,
    )
}

/// Makes a walk-in badge code that carries the kiosk's badge certificate, so every kiosk of the
/// event verifies it with the server key alone, whether or not its package lists this kiosk.
pub fn issue_certified_device_code(
    event_id: EventId,
    certificate: &BadgeCertificate,
    claims: &CodeClaims,
    device_key: &SecretKey,
) -> Result<SignedCode, CodeError> {
    issue(
        event_id,
        Signer::Device(certificate.device_id),
        Some(certificate),
        claims,
        device_key,
    )
}

/// Checks the signature of `code` for `event_id`: with `server_key` for server-signed codes;
/// for a kiosk's code, with the key of the badge certificate it carries (checked against
/// `server_key`) or else the kiosk's certificate in `certificates`. A revoked kiosk's codes are
/// refused either way.
pub fn verify(
    code: &SignedCode,
    event_id: EventId,
    server_key: &PublicKey,
    certificates: &CertificateSet,
) -> Result<VerifiedCode, CodeError> {
    let embedded;
    let key = match code.signer {
        Signer::Server => server_key,
        Signer::Device(device_id) if certificates.is_revoked(device_id) => {
            return Err(CodeError::RevokedSigner(device_id));
        }
        Signer::Device(device_id) => match code.badge_certificate() {
            Some(certificate) => {
                certificate
                    .verify(event_id, server_key)
                    .map_err(|_| CodeError::BadSignature)?;
                embedded = certificate.public_key;
                &embedded
            }
            None => certificates.key_for(device_id).map_err(|e| match e {
                CertificateError::Revoked(id) => CodeError::RevokedSigner(id),
                _ => CodeError::UnknownSigner(device_id),
            })?,
        },
    };
    let (signed, signature) = code.bytes.split_at(code.bytes.len() - SIGNATURE_LEN);
    key.verify(&signed_message(event_id, signed), signature)
        .map_err(|_| CodeError::BadSignature)?;
    Ok(VerifiedCode {
        signer: code.signer,
        claims: code.claims,
    })
}

fn issue(
    event_id: EventId,
    signer: Signer,
    certificate: Option<&BadgeCertificate>,
    claims: &CodeClaims,
    key: &SecretKey,
) -> Result<SignedCode, CodeError> {
    let from = claims.valid_from.map(to_secs).transpose()?;
    let until = claims.valid_until.map(to_secs).transpose()?;
    if let (Some(from), Some(until)) = (from, until)
        && from > until
    {
        return Err(CodeError::InvalidValidity);
    }
    let mut flags = 0;
    let mut bytes = Vec::with_capacity(MAX_SIGNED_LEN);
    bytes.extend([VERSION, 0]);
    if let Signer::Device(device_id) = signer {
        flags |= FLAG_DEVICE;
        bytes.extend(device_id.to_bytes());
        if let Some(certificate) = certificate {
            flags |= FLAG_CERTIFIED;
            bytes.extend(certificate.to_bytes());
        }
    }
    bytes.extend(claims.ticket_id.to_bytes());
    bytes.extend(claims.ticket_type_id.to_bytes());
    if let Some(from) = from {
        flags |= FLAG_VALID_FROM;
        bytes.extend(from.to_be_bytes());
    }
    if let Some(until) = until {
        flags |= FLAG_VALID_UNTIL;
        bytes.extend(until.to_be_bytes());
    }
    bytes[1] = flags;
    let signature = key.sign(&signed_message(event_id, &bytes));
    bytes.extend(signature);
    SignedCode::from_binary(bytes)
}

/// What a signature covers: the event id, then every byte of the code before the signature.
fn signed_message(event_id: EventId, signed: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(16 + signed.len());
    message.extend(event_id.to_bytes());
    message.extend_from_slice(signed);
    message
}

fn to_secs(time: UnixMillis) -> Result<u32, CodeError> {
    u32::try_from(time.as_secs()).map_err(|_| CodeError::TimeOutOfRange)
}

fn from_secs(secs: u32) -> UnixMillis {
    UnixMillis(u64::from(secs) * 1000)
}

/// Decodes the binary layout (signature included) into signer, whether it carries a badge
/// certificate, and claims.
fn decode_binary(bytes: &[u8]) -> Result<(Signer, bool, CodeClaims), CodeError> {
    let mut input = Reader(bytes);
    let version = input.byte()?;
    if version != VERSION {
        return Err(CodeError::UnsupportedVersion(version));
    }
    let flags = input.byte()?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(CodeError::Malformed("unknown flags"));
    }
    let signer = if flags & FLAG_DEVICE != 0 {
        let id = DeviceId::from_bytes(input.array()?)
            .map_err(|_| CodeError::Malformed("device id is not a UUIDv7"))?;
        Signer::Device(id)
    } else {
        Signer::Server
    };
    let certified = flags & FLAG_CERTIFIED != 0;
    if certified {
        let Signer::Device(device_id) = signer else {
            return Err(CodeError::Malformed("a certificate without a device"));
        };
        BadgeCertificate::from_bytes(device_id, &input.array()?)
            .map_err(|_| CodeError::Malformed("certificate key is not a valid key"))?;
    }
    let ticket_id = TicketId::from_bytes(input.array()?)
        .map_err(|_| CodeError::Malformed("ticket id is not a UUIDv7"))?;
    let ticket_type_id = TicketTypeId::from_bytes(input.array()?)
        .map_err(|_| CodeError::Malformed("ticket type id is not a UUIDv7"))?;
    let mut bound = |flag| -> Result<Option<UnixMillis>, CodeError> {
        if flags & flag == 0 {
            return Ok(None);
        }
        Ok(Some(from_secs(u32::from_be_bytes(input.array()?))))
    };
    let valid_from = bound(FLAG_VALID_FROM)?;
    let valid_until = bound(FLAG_VALID_UNTIL)?;
    let _signature: [u8; SIGNATURE_LEN] = input.array()?;
    if !input.0.is_empty() {
        return Err(CodeError::Malformed("trailing bytes"));
    }
    let claims = CodeClaims {
        ticket_id,
        ticket_type_id,
        valid_from,
        valid_until,
    };
    Ok((signer, certified, claims))
}

/// Reads fields off the front of a byte slice, refusing to read past its end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodeError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(CodeError::Malformed("too short"))?;
        self.0 = rest;
        Ok(*head)
    }

    fn byte(&mut self) -> Result<u8, CodeError> {
        self.array::<1>().map(|[b]| b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::DeviceCertificate;
    use crate::crypto::Signed;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const T0: UnixMillis = UnixMillis(1_750_000_000_000);

    /// An event with a server key, two certified kiosks (the second revoked) and one uncertified.
    struct Fixture {
        event: EventId,
        server: SecretKey,
        device: (DeviceId, SecretKey),
        revoked: (DeviceId, SecretKey),
        stranger: (DeviceId, SecretKey),
        certificates: CertificateSet,
        claims: CodeClaims,
    }

    fn fixture(seed: u64) -> Fixture {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let event = EventId::new(T0, &mut rng);
        let server = SecretKey::generate(&mut rng);
        let kiosk = |rng: &mut ChaCha20Rng| (DeviceId::new(T0, rng), SecretKey::generate(rng));
        let (device, revoked, stranger) = (kiosk(&mut rng), kiosk(&mut rng), kiosk(&mut rng));
        let certify = |(id, key): &(DeviceId, SecretKey)| {
            let certificate = DeviceCertificate {
                device_id: *id,
                event_id: event,
                public_key: key.public_key(),
                label: "Desk".into(),
                gate_id: None,
                issued_at: T0,
            };
            Signed::sign(&certificate, &server)
        };
        let signed = [certify(&device), certify(&revoked)];
        let certificates = CertificateSet::new(event, &server.public_key(), &signed, [revoked.0]);
        let claims = CodeClaims {
            ticket_id: TicketId::new(T0, &mut rng),
            ticket_type_id: TicketTypeId::new(T0, &mut rng),
            valid_from: Some(T0),
            valid_until: Some(T0.plus_millis(86_400_000)),
        };
        Fixture {
            event,
            server,
            device,
            revoked,
            stranger,
            certificates,
            claims,
        }
    }

    impl Fixture {
        fn device_code(&self) -> SignedCode {
            issue_device_code(self.event, self.device.0, &self.claims, &self.device.1).unwrap()
        }

        fn verify_text(&self, text: &str) -> Result<VerifiedCode, CodeError> {
            match TicketCode::parse(text)? {
                TicketCode::Signed(code) => self.verify(&code),
                TicketCode::Opaque(_) => Err(CodeError::Malformed("parsed as opaque")),
            }
        }

        fn verify(&self, code: &SignedCode) -> Result<VerifiedCode, CodeError> {
            verify(
                code,
                self.event,
                &self.server.public_key(),
                &self.certificates,
            )
        }
    }

    fn text_of(bytes: &[u8]) -> String {
        format!("{SIGNED_PREFIX}{}", base45::encode(bytes))
    }

    #[test]
    fn server_and_device_codes_round_trip() {
        let f = fixture(1);
        let server_code = issue_server_code(f.event, &f.claims, &f.server).unwrap();
        let verified = f.verify_text(server_code.as_str()).unwrap();
        assert_eq!(verified.signer(), Signer::Server);
        assert_eq!(verified.claims(), &f.claims);

        let device_code = f.device_code();
        let verified = f
            .verify_text(&format!("  {}\r\n", device_code.as_str()))
            .unwrap();
        assert_eq!(verified.signer(), Signer::Device(f.device.0));
        assert_eq!(verified.ticket_id(), f.claims.ticket_id);
        assert_eq!(verified.ticket_type_id(), f.claims.ticket_type_id);
        assert_eq!(verified.valid_from(), f.claims.valid_from);
        assert_eq!(verified.valid_until(), f.claims.valid_until);
        assert!(verified.is_valid_at(T0));
        assert!(!verified.is_valid_at(UnixMillis(T0.0 - 1)));
        assert!(!verified.is_valid_at(T0.plus_millis(86_400_001)));
    }

    #[test]
    fn validity_is_optional_and_rounded_to_seconds() {
        let f = fixture(2);
        let mut claims = CodeClaims {
            valid_from: None,
            valid_until: None,
            ..f.claims
        };
        let code = issue_server_code(f.event, &claims, &f.server).unwrap();
        let verified = f.verify(&code).unwrap();
        assert_eq!(
            (verified.valid_from(), verified.valid_until()),
            (None, None)
        );
        assert!(verified.is_valid_at(UnixMillis(0)));

        claims.valid_until = Some(UnixMillis(1_750_000_000_999));
        let code = issue_server_code(f.event, &claims, &f.server).unwrap();
        assert_eq!(
            f.verify(&code).unwrap().valid_until(),
            Some(UnixMillis(1_750_000_000_000))
        );
    }

    #[test]
    fn issue_refuses_bad_validity() {
        let f = fixture(3);
        let late = CodeClaims {
            valid_until: Some(UnixMillis(u64::from(u32::MAX) * 1000 + 1000)),
            ..f.claims
        };
        assert_eq!(
            issue_server_code(f.event, &late, &f.server).unwrap_err(),
            CodeError::TimeOutOfRange
        );
        let inverted = CodeClaims {
            valid_from: f.claims.valid_until,
            valid_until: f.claims.valid_from,
            ..f.claims
        };
        assert_eq!(
            issue_server_code(f.event, &inverted, &f.server).unwrap_err(),
            CodeError::InvalidValidity
        );
    }

    #[test]
    fn code_of_another_event_fails() {
        let f = fixture(4);
        let other = fixture(5);
        let code = issue_server_code(f.event, &f.claims, &f.server).unwrap();
        assert_eq!(
            verify(&code, other.event, &f.server.public_key(), &f.certificates),
            Err(CodeError::BadSignature)
        );
    }

    #[test]
    fn wrong_key_fails() {
        let f = fixture(6);
        // Signed by a kiosk key but claiming to be the server.
        let forged = issue_server_code(f.event, &f.claims, &f.device.1).unwrap();
        assert_eq!(f.verify(&forged), Err(CodeError::BadSignature));
        // Claiming to be one kiosk, signed by another.
        let forged = issue_device_code(f.event, f.device.0, &f.claims, &f.stranger.1).unwrap();
        assert_eq!(f.verify(&forged), Err(CodeError::BadSignature));
    }

    #[test]
    fn unknown_and_revoked_signers_are_distinct() {
        let f = fixture(7);
        let revoked = issue_device_code(f.event, f.revoked.0, &f.claims, &f.revoked.1).unwrap();
        assert_eq!(
            f.verify(&revoked),
            Err(CodeError::RevokedSigner(f.revoked.0))
        );
        let unknown = issue_device_code(f.event, f.stranger.0, &f.claims, &f.stranger.1).unwrap();
        assert_eq!(
            f.verify(&unknown),
            Err(CodeError::UnknownSigner(f.stranger.0))
        );
    }

    #[test]
    fn tampering_any_byte_fails() {
        let f = fixture(8);
        let bytes = f.device_code().bytes;
        for i in 0..bytes.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut tampered = bytes.clone();
                tampered[i] ^= mask;
                assert!(
                    f.verify_text(&text_of(&tampered)).is_err(),
                    "byte {i} ^ {mask:#x}"
                );
            }
        }
        for len in 0..bytes.len() {
            assert!(f.verify_text(&text_of(&bytes[..len])).is_err(), "len {len}");
        }
        // One byte more than the longest code there is (certified, both bounds).
        let badge =
            BadgeCertificate::issue(f.event, f.device.0, f.device.1.public_key(), T0, &f.server);
        let mut longer = issue_certified_device_code(f.event, &badge, &f.claims, &f.device.1)
            .unwrap()
            .bytes;
        assert_eq!(longer.len(), MAX_SIGNED_LEN);
        longer.push(0);
        assert_eq!(
            f.verify_text(&text_of(&longer)),
            Err(CodeError::Malformed("too long"))
        );
        let claims = CodeClaims {
            valid_from: None,
            ..f.claims
        };
        let mut longer = issue_server_code(f.event, &claims, &f.server)
            .unwrap()
            .bytes;
        longer.push(0);
        assert_eq!(
            f.verify_text(&text_of(&longer)),
            Err(CodeError::Malformed("trailing bytes"))
        );
    }

    #[test]
    fn unsupported_version_and_flags_are_named() {
        let f = fixture(9);
        let mut bytes = f.device_code().bytes;
        bytes[0] = 2;
        assert_eq!(
            TicketCode::parse(&text_of(&bytes)),
            Err(CodeError::UnsupportedVersion(2))
        );
        bytes[0] = VERSION;
        bytes[1] |= 0b1_0000;
        assert_eq!(
            TicketCode::parse(&text_of(&bytes)),
            Err(CodeError::Malformed("unknown flags"))
        );
        // A certificate flag on a server code: refused by name.
        let mut server = issue_server_code(f.event, &f.claims, &f.server)
            .unwrap()
            .bytes;
        server[1] |= FLAG_CERTIFIED;
        assert_eq!(
            TicketCode::parse(&text_of(&server)),
            Err(CodeError::Malformed("a certificate without a device"))
        );
    }

    #[test]
    fn text_form_is_canonical_and_case_insensitive() {
        let f = fixture(10);
        let code = f.device_code();
        let text = code.as_str();
        assert!(text.starts_with(SIGNED_PREFIX));
        assert_eq!(text.trim(), text);
        let lower = TicketCode::parse(&text.to_ascii_lowercase()).unwrap();
        assert_eq!(lower.as_str(), text);
        assert!(f.verify_text(&text.to_ascii_lowercase()).is_ok());
        // The base45 crate decodes a final pair above 255 ("::" = 2024) to a truncated byte: such
        // a second spelling of a code is refused.
        let short = issue_server_code(
            f.event,
            &CodeClaims {
                valid_from: None,
                ..f.claims
            },
            &f.server,
        )
        .unwrap();
        assert_eq!(
            TicketCode::parse(&format!("{}::", short.as_str())),
            Err(CodeError::Malformed("non-canonical Base45"))
        );
        assert_eq!(
            TicketCode::parse("GP1:abc!"),
            Err(CodeError::Malformed("not Base45"))
        );
        assert_eq!(
            TicketCode::parse("GP1:"),
            Err(CodeError::Malformed("too short"))
        );
    }

    #[test]
    fn opaque_codes() {
        let code = TicketCode::parse("  ABC-123 x\n").unwrap();
        assert!(matches!(code, TicketCode::Opaque(_)));
        assert_eq!(code.as_str(), "ABC-123 x");
        assert_eq!(format!("{code:?}"), "Opaque(OpaqueCode(9 chars))");
        assert_eq!(TicketCode::parse(" \t\n"), Err(CodeError::Empty));
        assert_eq!(TicketCode::parse(""), Err(CodeError::Empty));
        assert!(TicketCode::parse(&"x".repeat(MAX_OPAQUE_LEN)).is_ok());
        assert_eq!(
            TicketCode::parse(&"x".repeat(MAX_OPAQUE_LEN + 1)),
            Err(CodeError::TooLong { len: 129 })
        );
        assert_eq!(TicketCode::parse("café"), Err(CodeError::InvalidCharacter));
        assert_eq!(TicketCode::parse("a\tb"), Err(CodeError::InvalidCharacter));
        assert_eq!(
            TicketCode::parse_bytes(b"\xff\xfe"),
            Err(CodeError::NotText)
        );
        assert_eq!(
            TicketCode::parse_bytes(b"ABC").unwrap(),
            "ABC".parse::<TicketCode>().unwrap()
        );
        // A prefix-like opaque code is not opaque: it must be a valid signed code.
        assert!(TicketCode::parse("GP1:HELLO").is_err());
        assert!(matches!(
            TicketCode::parse("GP2:HELLO"),
            Ok(TicketCode::Opaque(_))
        ));
    }

    /// Smallest QR version holding `text` at error-correction level M.
    fn qr_version(text: &str) -> i16 {
        use qrcode::{EcLevel, QrCode, Version};
        match QrCode::with_error_correction_level(text, EcLevel::M)
            .unwrap()
            .version()
        {
            Version::Normal(v) => v,
            Version::Micro(_) => unreachable!("QrCode::new makes normal codes"),
        }
    }

    #[test]
    fn size_table_matches_module_doc() {
        let f = fixture(11);
        let badge =
            BadgeCertificate::issue(f.event, f.device.0, f.device.1.public_key(), T0, &f.server);
        let bounds = |both: bool| CodeClaims {
            valid_from: both.then_some(T0),
            valid_until: both.then_some(T0),
            ..f.claims
        };
        let rows = [
            (
                issue_server_code(f.event, &bounds(false), &f.server),
                98,
                151,
                6,
            ),
            (
                issue_server_code(f.event, &bounds(true), &f.server),
                106,
                163,
                7,
            ),
            (
                issue_device_code(f.event, f.device.0, &bounds(false), &f.device.1),
                114,
                175,
                7,
            ),
            (
                issue_device_code(f.event, f.device.0, &bounds(true), &f.device.1),
                122,
                187,
                8,
            ),
            (
                issue_certified_device_code(f.event, &badge, &bounds(false), &f.device.1),
                214,
                325,
                11,
            ),
            (
                issue_certified_device_code(f.event, &badge, &bounds(true), &f.device.1),
                222,
                337,
                11,
            ),
        ];
        for (code, bytes, chars, version) in rows {
            let code = code.unwrap();
            let measured = (
                code.binary_len(),
                code.as_str().len(),
                qr_version(code.as_str()),
            );
            println!("{:?}: {measured:?}", code.signer());
            assert_eq!(measured, (bytes, chars, version));
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| base45::alphabet::decode(b).is_some())
            );
        }
        assert_eq!(MAX_SIGNED_LEN, 222);
    }

    #[test]
    fn a_certified_badge_verifies_with_the_server_key_alone() {
        let f = fixture(21);
        let certify = |event: EventId, signer: &SecretKey, device: &(DeviceId, SecretKey)| {
            BadgeCertificate::issue(event, device.0, device.1.public_key(), T0, signer)
        };
        let nobody = CertificateSet::new(f.event, &f.server.public_key(), &[], []);
        let check = |code: &SignedCode, set: &CertificateSet| {
            verify(code, f.event, &f.server.public_key(), set)
        };

        // The stranger kiosk is in no package: its certified badge still verifies, offline.
        let certificate = certify(f.event, &f.server, &f.stranger);
        let code =
            issue_certified_device_code(f.event, &certificate, &f.claims, &f.stranger.1).unwrap();
        let parsed = match TicketCode::parse(code.as_str()).unwrap() {
            TicketCode::Signed(code) => code,
            TicketCode::Opaque(_) => panic!("a signed code"),
        };
        assert_eq!(parsed.badge_certificate(), Some(certificate.clone()));
        let verified = check(&parsed, &nobody).unwrap();
        assert_eq!(verified.signer(), Signer::Device(f.stranger.0));
        assert_eq!(verified.claims(), &f.claims);
        assert_eq!(check(&parsed, &f.certificates).unwrap().claims(), &f.claims);

        // A certificate the server did not sign, or for another event: refused.
        let forger = SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(99));
        let forged = certify(f.event, &forger, &f.stranger);
        let code = issue_certified_device_code(f.event, &forged, &f.claims, &f.stranger.1).unwrap();
        assert_eq!(check(&code, &nobody), Err(CodeError::BadSignature));
        let other_event = EventId::new(T0, &mut ChaCha20Rng::seed_from_u64(98));
        let elsewhere = certify(other_event, &f.server, &f.stranger);
        let code =
            issue_certified_device_code(f.event, &elsewhere, &f.claims, &f.stranger.1).unwrap();
        assert_eq!(check(&code, &nobody), Err(CodeError::BadSignature));

        // A real certificate but the code signed by another key: refused.
        let code =
            issue_certified_device_code(f.event, &certificate, &f.claims, &f.device.1).unwrap();
        assert_eq!(check(&code, &nobody), Err(CodeError::BadSignature));

        // A revoked kiosk's certified badge: refused as revoked.
        let revoked = certify(f.event, &f.server, &f.revoked);
        let code = issue_certified_device_code(f.event, &revoked, &f.claims, &f.revoked.1).unwrap();
        assert_eq!(
            check(&code, &f.certificates),
            Err(CodeError::RevokedSigner(f.revoked.0))
        );

        // Every byte counts: the certificate is covered by the code's signature too.
        let code =
            issue_certified_device_code(f.event, &certificate, &f.claims, &f.stranger.1).unwrap();
        for i in 0..code.bytes.len() {
            let mut bytes = code.bytes.clone();
            bytes[i] ^= 0x01;
            if let Ok(TicketCode::Signed(tampered)) = TicketCode::parse(&text_of(&bytes)) {
                assert!(check(&tampered, &nobody).is_err(), "byte {i}");
            }
        }
    }

    #[test]
    fn badge_certificates_round_trip_through_json() {
        let f = fixture(22);
        let certificate =
            BadgeCertificate::issue(f.event, f.device.0, f.device.1.public_key(), T0, &f.server);
        let json = serde_json::to_string(&certificate).unwrap();
        let back: BadgeCertificate = serde_json::from_str(&json).unwrap();
        assert_eq!(back, certificate);
        assert!(back.verify(f.event, &f.server.public_key()).is_ok());
        assert!(
            serde_json::from_str::<BadgeCertificate>(r#"{"device_id":"x","certificate":"AA"}"#)
                .is_err()
        );
    }

    #[test]
    fn device_code_with_both_bounds_fits_qr_version_10_at_level_m() {
        let f = fixture(12);
        assert!(qr_version(f.device_code().as_str()) <= 10);
    }

    proptest! {
        #[test]
        fn parse_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = TicketCode::parse_bytes(&bytes);
        }

        #[test]
        fn parse_never_panics(text in any::<String>()) {
            let _ = TicketCode::parse(&text);
        }

        #[test]
        fn random_signed_looking_codes_never_verify(body in "[0-9A-Za-z $%*+./:-]{0,200}") {
            let f = fixture(13);
            let text = format!("GP1:{body}");
            prop_assert!(f.verify_text(&text).is_err());
        }

        #[test]
        fn random_binary_codes_never_verify(
            bytes in proptest::collection::vec(any::<u8>(), 0..130),
            version in 0u8..3,
            flags in 0u8..16,
        ) {
            let f = fixture(14);
            let mut bytes = bytes;
            if bytes.len() >= 2 {
                bytes[0] = version;
                bytes[1] = flags;
            }
            prop_assert!(f.verify_text(&text_of(&bytes)).is_err());
        }

        #[test]
        fn corrupted_codes_never_verify(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..45, 0u8..3), 1..4),
        ) {
            let f = fixture(15);
            let original = f.device_code();
            let mut chars: Vec<u8> = original.as_str().bytes().collect();
            for (at, symbol, op) in edits {
                let symbol = base45::alphabet::TABLE[symbol];
                match op {
                    0 => { let i = at.index(chars.len()); chars[i] = symbol; }
                    1 => chars.insert(at.index(chars.len() + 1), symbol),
                    _ => { chars.remove(at.index(chars.len())); }
                }
            }
            let text = String::from_utf8(chars).unwrap();
            match TicketCode::parse(&text) {
                Ok(code) if code.as_str() == original.as_str() => {
                    prop_assert!(f.verify_text(&text).is_ok());
                }
                _ => prop_assert!(f.verify_text(&text).is_err()),
            }
        }
    }
}
