//! Reading a backup file safely: the whole gzip stream is decoded (CRC and length trailer
//! included), the file's sha256 is compared with the manifest, and the SQL must end with
//! pg_dump's completion trailer. The same reader feeds psql during a load, so a file that
//! changes between the check and the load is still caught before psql may commit.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::engine::catalog::BackupEntry;
use crate::engine::dumpscan::DumpScanner;
use crate::engine::localcrypt;
use crate::engine::manifest::Manifest;
use crate::engine::progress::{JobEvent, Progress, Sink};
use crate::error::{Error, Result};

/// Size of the reads from the decoder.
const CHUNK: usize = 256 * 1024;
/// Decompressed bytes kept to look for the trailer.
const TAIL: usize = 4096;
/// How often progress is reported.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Counters shared between the thread reading the file and the progress reporter.
#[derive(Debug, Default)]
pub struct Pump {
    /// Compressed bytes read from the file.
    pub read: AtomicU64,
    /// Set to make the reading thread stop at its next chunk.
    pub stop: AtomicBool,
}

impl Pump {
    /// A progress sample: compressed bytes read of `total`.
    pub fn sample(&self, total: u64, started: Instant) -> Progress {
        Progress {
            bytes_done: self.read.load(Ordering::Relaxed),
            bytes_total: Some(total),
            elapsed: started.elapsed(),
            ..Default::default()
        }
    }
}

/// A reader that hashes and counts the stored bytes and honours `stop`.
struct Tracked<'a> {
    inner: BufReader<File>,
    hasher: &'a mut Sha256,
    pump: &'a Pump,
}

/// A reader that hashes what passes through it (the decrypted gzip stream).
struct Hashed<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
}

impl<R: Read> Read for Hashed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl Read for Tracked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pump.stop.load(Ordering::Relaxed) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "cancelled",
            ));
        }
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.pump.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Why streaming stopped early.
#[derive(Debug)]
pub enum StreamError {
    /// The file failed a check (or was unreadable): the backup's fault.
    Bad(Error),
    /// Writing to `out` failed (psql went away): the caller knows why.
    Write(std::io::Error),
    /// `stop` was set.
    Stopped,
}

/// Decodes `path` into `out`, checking gzip integrity, the sha256 against `expected_sha`
/// and the completion trailer. Returns the SQL byte count. Blocking.
pub fn stream_checked(
    path: &Path,
    name: &str,
    expected_sha: Option<&str>,
    out: &mut dyn Write,
    pump: &Pump,
) -> std::result::Result<u64, StreamError> {
    let bad = |reason: String| {
        StreamError::Bad(Error::Corrupt {
            name: name.to_string(),
            reason,
        })
    };
    let file =
        File::open(path).map_err(|e| bad(format!("cannot open {} ({e})", path.display())))?;
    let (mut stored_hasher, mut plain_hasher) = (Sha256::new(), Sha256::new());
    let tracked = Tracked {
        inner: BufReader::with_capacity(1 << 20, file),
        hasher: &mut stored_hasher,
        pump,
    };
    // An encrypted backup is decrypted on the way (the stored bytes are hashed below the
    // decryption, the gzip stream above it).
    let encrypted = localcrypt::is_encrypted(name);
    let source: Box<dyn Read + '_> = if encrypted {
        let ids = localcrypt::require_identities(name).map_err(StreamError::Bad)?;
        Box::new(Hashed {
            inner: localcrypt::open(tracked, &ids, name).map_err(StreamError::Bad)?,
            hasher: &mut plain_hasher,
        })
    } else {
        Box::new(tracked)
    };
    let mut decoder = MultiGzDecoder::new(source);
    let mut buf = vec![0u8; CHUNK];
    let mut tail: Vec<u8> = Vec::with_capacity(2 * TAIL);
    let mut raw = 0u64;
    let decode_error = loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => n,
            Err(_) if pump.stop.load(Ordering::Relaxed) => return Err(StreamError::Stopped),
            Err(e) => break Some(e),
        };
        raw += n as u64;
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > TAIL {
            tail.drain(..tail.len() - TAIL);
        }
        out.write_all(&buf[..n]).map_err(StreamError::Write)?;
    };
    // Hash whatever the decoder did not read, so a checksum mismatch is reported as such.
    let _ = std::io::copy(decoder.get_mut(), &mut std::io::sink());
    drop(decoder);
    let sha = hex::encode(stored_hasher.finalize());
    let mismatch = |what: &str, sha: &str, expected: &str| {
        bad(format!(
            "its {what}sha256 ({}…) is not the manifest's ({}…): the file was changed or damaged",
            &sha[..12],
            expected.get(..12).unwrap_or(expected)
        ))
    };
    if let Some(expected) = expected_sha {
        if !sha.eq_ignore_ascii_case(expected) {
            return Err(mismatch("", &sha, expected));
        }
    }
    if encrypted && decode_error.is_none() {
        let plain = hex::encode(plain_hasher.finalize());
        let expected = Manifest::read_for(path)
            .ok()
            .flatten()
            .and_then(|m| m.encryption)
            .map(|e| e.plain_sha256);
        if let Some(expected) = expected.filter(|e| !plain.eq_ignore_ascii_case(e)) {
            return Err(mismatch("decrypted ", &plain, &expected));
        }
    }
    if let Some(e) = decode_error {
        return Err(bad(format!(
            "the gzip stream does not decode after {} bytes of SQL ({e}); the file is truncated or damaged",
            crate::format::count(raw)
        )));
    }
    let mut scanner = DumpScanner::new();
    scanner.feed(&tail);
    if !scanner.complete() {
        return Err(StreamError::Bad(Error::Incomplete(format!(
            "{name} has {} bytes of SQL and no trailer at the end",
            crate::format::count(raw)
        ))));
    }
    Ok(raw)
}

/// Checks `backup` completely (sha256 when there is a manifest, gzip stream, trailer)
/// without touching any database. Reports progress as compressed bytes read of the size.
pub async fn check(backup: &BackupEntry, sink: &Sink, cancel: &CancellationToken) -> Result<u64> {
    let pump = Arc::new(Pump::default());
    let path = backup.path.clone();
    let name = backup.name.clone();
    let sha = backup.manifest.as_ref().map(|m| m.sha256.clone());
    let total = std::fs::metadata(&path)
        .map(|m| m.len())
        .unwrap_or(backup.size);
    let p = pump.clone();
    let mut job = tokio::task::spawn_blocking(move || {
        stream_checked(&path, &name, sha.as_deref(), &mut std::io::sink(), &p)
    });
    let started = Instant::now();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let result = loop {
        tokio::select! {
            r = &mut job => break r,
            _ = cancel.cancelled() => {
                pump.stop.store(true, Ordering::Relaxed);
                let _ = job.await;
                return Err(Error::Cancelled);
            }
            _ = tick.tick() => sink.emit(JobEvent::Progress(pump.sample(total, started))),
        }
    };
    sink.emit(JobEvent::Progress(pump.sample(total, started)));
    match result.map_err(|e| Error::Other(format!("the checking thread failed: {e}")))? {
        Ok(raw) => Ok(raw),
        Err(StreamError::Bad(e)) => Err(e),
        Err(StreamError::Stopped) => Err(Error::Cancelled),
        Err(StreamError::Write(e)) => Err(Error::Other(format!("checking {}: {e}", backup.name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;

    const SQL: &str = "CREATE TABLE t (a int);\nCOPY public.t (a) FROM stdin;\n1\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn run(bytes: &[u8], sha: Option<&str>) -> std::result::Result<(u64, Vec<u8>), StreamError> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.sql.gz");
        std::fs::write(&p, bytes).unwrap();
        let mut out = Vec::new();
        stream_checked(&p, "x.sql.gz", sha, &mut out, &Pump::default()).map(|n| (n, out))
    }

    #[test]
    fn good_file_streams_whole() {
        let bytes = gz(SQL.as_bytes());
        let sha = hex::encode(Sha256::digest(&bytes));
        let (n, out) = run(&bytes, Some(&sha)).unwrap();
        assert_eq!(n, SQL.len() as u64);
        assert_eq!(out, SQL.as_bytes());
    }

    #[test]
    fn flipped_byte_truncation_and_missing_trailer_are_refused() {
        let bytes = gz(SQL.as_bytes());
        let sha = hex::encode(Sha256::digest(&bytes));
        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        match run(&flipped, Some(&sha)) {
            Err(StreamError::Bad(Error::Corrupt { reason, .. })) => {
                assert!(reason.contains("sha256"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(run(&flipped, None), Err(StreamError::Bad(_))));
        assert!(matches!(
            run(&bytes[..bytes.len() - 6], None),
            Err(StreamError::Bad(Error::Corrupt { .. }))
        ));
        let cut = gz(&SQL.as_bytes()[..30]);
        assert!(matches!(
            run(&cut, None),
            Err(StreamError::Bad(Error::Incomplete(_)))
        ));
    }
}
