//! A package body while it downloads: kept on disk in sealed chunks, so a download cut by the
//! network, a stall or a restart resumes at the byte it stopped at, and the body (names and
//! ticket codes) is never on disk in the clear nor held in memory whole.
//!
//! [`KioskStore::start_download`] records which body is coming (its signed manifest);
//! [`KioskStore::append_download`] keeps each chunk as it arrives, in its own transaction;
//! [`KioskStore::apply_download`] reads the chunks back through the digest check and applies the
//! package, clearing the download in the same transaction.

use rand::rngs::OsRng;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sync_protocol::crypto::{PublicKey, SealingKey, Signed, open, seal};
use sync_protocol::ids::EventId;
use sync_protocol::package::{PackageError, PackageManifest, read_body, verify_manifest};

use super::{KioskStore, StoreError, put_meta, row_aad};

const META_DOWNLOAD: &str = "package_download";

/// The package body being downloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Download {
    /// The signed manifest the body belongs to (checked again when it is applied).
    pub manifest: Signed<PackageManifest>,
    pub version: u64,
    pub body_sha256: String,
    pub body_len: u64,
    /// Body bytes kept so far: the next request asks for the bytes from here.
    pub received: u64,
    /// Chunks kept so far (the next chunk's number).
    pub chunks: u64,
}

impl Download {
    pub fn is_complete(&self) -> bool {
        self.received == self.body_len
    }
}

/// Associated data of a chunk: the body it belongs to and its place in it, so chunks cannot be
/// reordered or mixed between bodies.
fn chunk_aad(body_sha256: &str, chunk: u64) -> Vec<u8> {
    let mut id = body_sha256.as_bytes().to_vec();
    id.extend_from_slice(&chunk.to_be_bytes());
    row_aad("package_download", &id)
}

impl KioskStore {
    /// The download under way, if any.
    pub fn download(&self) -> Result<Option<Download>, StoreError> {
        self.meta(META_DOWNLOAD)?
            .map(|bytes| {
                serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::Malformed(format!("package download: {e}")))
            })
            .transpose()
    }

    /// Starts downloading the body of `signed` (already verified as `manifest`), or resumes the
    /// download of the same package. A download of another package is dropped.
    pub fn start_download(
        &mut self,
        signed: &Signed<PackageManifest>,
        manifest: &PackageManifest,
    ) -> Result<Download, StoreError> {
        if let Some(current) = self.download()?
            && current.manifest == *signed
        {
            return Ok(current);
        }
        let fresh = Download {
            manifest: signed.clone(),
            version: manifest.version,
            body_sha256: manifest.body_sha256.clone(),
            body_len: manifest.body_len,
            received: 0,
            chunks: 0,
        };
        let tx = self.conn.transaction()?;
        tx.execute("delete from package_download", [])?;
        put_download(&tx, &fresh)?;
        tx.commit()?;
        Ok(fresh)
    }

    /// Keeps the next bytes of the body; returns how many bytes are kept in all.
    pub fn append_download(&mut self, bytes: &[u8]) -> Result<u64, StoreError> {
        let mut download = self
            .download()?
            .ok_or_else(|| StoreError::Malformed("no package download under way".into()))?;
        if download.received + bytes.len() as u64 > download.body_len {
            return Err(StoreError::Package(PackageError::BodyMismatch));
        }
        let sealed = seal(
            &self.sealing,
            &mut OsRng,
            bytes,
            &chunk_aad(&download.body_sha256, download.chunks),
        );
        let tx = self.conn.transaction()?;
        tx.execute(
            "insert into package_download (chunk, sealed) values (?1, ?2)",
            params![download.chunks as i64, sealed],
        )?;
        download.chunks += 1;
        download.received += bytes.len() as u64;
        put_download(&tx, &download)?;
        tx.commit()?;
        Ok(download.received)
    }

    /// Drops the bytes kept so far of the download under way, to take its body from the start.
    pub fn restart_download(&mut self) -> Result<(), StoreError> {
        let Some(mut download) = self.download()? else {
            return Ok(());
        };
        download.received = 0;
        download.chunks = 0;
        let tx = self.conn.transaction()?;
        tx.execute("delete from package_download", [])?;
        put_download(&tx, &download)?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets the download under way (its body changed, or it proved damaged).
    pub fn clear_download(&mut self) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        clear_download_in(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// Applies the completely downloaded package: the manifest is verified again against the
    /// pinned key and what the kiosk holds, the chunks are read back through the digest check,
    /// then the package is applied as [`KioskStore::apply_package`] does. `again` accepts the
    /// version held already (a full package fetched again because the server asked for it).
    /// A body that proves damaged is dropped, so the next attempt downloads it afresh.
    pub fn apply_download(
        &mut self,
        server_key: &PublicKey,
        event_id: EventId,
        again: bool,
    ) -> Result<PackageManifest, StoreError> {
        let download = self
            .download()?
            .ok_or_else(|| StoreError::Malformed("no package download under way".into()))?;
        if !download.is_complete() {
            return Err(StoreError::Malformed(format!(
                "the package download holds {} of {} bytes",
                download.received, download.body_len
            )));
        }
        let manifest = self.check_manifest(&download.manifest, server_key, event_id, again)?;
        let reader = ChunkReader {
            conn: &self.conn,
            sealing: &self.sealing,
            body_sha256: &download.body_sha256,
            next: 0,
            chunks: download.chunks,
            current: zeroize::Zeroizing::new(Vec::new()),
            at: 0,
        };
        let body = match read_body(&manifest, reader) {
            Ok(body) => body,
            Err(e @ (PackageError::BodyMismatch | PackageError::Unreadable(_))) => {
                self.clear_download()?;
                return Err(StoreError::Package(e));
            }
            Err(e) => return Err(StoreError::Package(e)),
        };
        self.apply_opened(manifest, &body)
    }

    /// Verifies a signed manifest for this kiosk; with `again`, a full package of the version
    /// held already is accepted too (never an older one).
    pub fn check_manifest(
        &self,
        signed: &Signed<PackageManifest>,
        server_key: &PublicKey,
        event_id: EventId,
        again: bool,
    ) -> Result<PackageManifest, StoreError> {
        let held = self.package_version()?;
        if !again {
            return Ok(verify_manifest(signed, server_key, event_id, held)?);
        }
        let manifest = verify_manifest(signed, server_key, event_id, None)?;
        if let Some(held) = held
            && (manifest.version < held || manifest.base_version.is_some())
        {
            return Err(StoreError::Package(PackageError::NotNewer {
                held,
                offered: manifest.version,
            }));
        }
        Ok(manifest)
    }
}

fn put_download(tx: &rusqlite::Transaction<'_>, download: &Download) -> Result<(), StoreError> {
    put_meta(
        tx,
        META_DOWNLOAD,
        serde_json::to_string(download).expect("downloads serialize"),
    )
}

/// Drops the download under way, inside the caller's transaction.
pub(super) fn clear_download_in(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("delete from package_download", [])?;
    tx.execute("delete from meta where key = ?1", params![META_DOWNLOAD])?;
    Ok(())
}

/// Reads the kept chunks back in order, one chunk in memory at a time.
struct ChunkReader<'a> {
    conn: &'a rusqlite::Connection,
    sealing: &'a SealingKey,
    body_sha256: &'a str,
    next: u64,
    chunks: u64,
    current: zeroize::Zeroizing<Vec<u8>>,
    at: usize,
}

impl std::io::Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            if self.next == self.chunks {
                return Ok(0);
            }
            let chunk = self.next;
            let damaged = || std::io::Error::other(format!("downloaded chunk {chunk} is damaged"));
            let sealed: Vec<u8> = self
                .conn
                .query_row(
                    "select sealed from package_download where chunk = ?1",
                    params![chunk as i64],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .ok_or_else(damaged)?;
            self.current = open(self.sealing, &sealed, &chunk_aad(self.body_sha256, chunk))
                .map_err(|_| damaged())?;
            self.at = 0;
            self.next += 1;
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
