//! The server's Ed25519 signing key on disk: generated on first start, kept in the data folder.
//!
//! The key signs packages and device certificates; kiosks pin its public half at enrolment.
//! File: `<data dir>/signing-key` holding the 32-byte seed as base64url, mode 0600. Rotation is
//! described in docs/operations.md.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sync_protocol::crypto::SecretKey;

/// Why the key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write the signing key at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the signing key at {0} is not a base64url 32-byte seed")]
    Malformed(PathBuf),
}

/// Loads the signing key from `data_dir`, generating it on first start.
pub fn load_or_create(data_dir: &Path) -> Result<SecretKey, KeyError> {
    let path = data_dir.join("signing-key");
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = B64
                .decode(text.trim())
                .map_err(|_| KeyError::Malformed(path.clone()))?;
            let seed: [u8; 32] = bytes
                .try_into()
                .map_err(|_| KeyError::Malformed(path.clone()))?;
            Ok(SecretKey::from_seed(&seed))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let key = SecretKey::generate(&mut rand::rngs::OsRng);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&path).map_err(io)?;
            file.write_all(B64.encode(*key.to_seed()).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io)?;
            tracing::info!(path = %path.display(), key_id = %key.public_key().key_id(), "generated the package signing key");
            Ok(key)
        }
        Err(err) => Err(io(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reloaded() {
        let dir = std::env::temp_dir().join(format!("gp-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = load_or_create(&dir).unwrap();
        let again = load_or_create(&dir).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        std::fs::write(dir.join("signing-key"), "garbage").unwrap();
        assert!(matches!(load_or_create(&dir), Err(KeyError::Malformed(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
