//! The blocking half of a backup: reads pg_dump's output from its pipe, scans it (row counts,
//! completion trailer), gzips it and writes it to the `.partial` file while hashing what is
//! written, then fsyncs. Memory is bounded by the buffers, whatever the database size.

use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::engine::dumpscan::DumpScanner;
use crate::error::{Error, Result};
use crate::offsite::crypt::{Hashing, Recipients};

/// Size of the reads from pg_dump's pipe.
const CHUNK: usize = 256 * 1024;
/// Buffer between the gzip encoder and the file.
const OUT_BUFFER: usize = 1 << 20;

/// Counters shared between the writer thread and the progress sampler.
#[derive(Debug, Default)]
pub struct Shared {
    /// Raw SQL bytes read from pg_dump.
    pub raw: AtomicU64,
    /// Compressed bytes written to the file.
    pub written: AtomicU64,
    /// Rows of the tables whose COPY data has fully streamed by.
    pub rows_finished: AtomicU64,
    /// The table whose COPY data is streaming now.
    pub table: Mutex<Option<String>>,
    /// Set to make the writer stop (cancellation).
    pub stop: AtomicBool,
}

/// What the writer produced.
#[derive(Debug)]
pub struct Written {
    /// The scanner after the whole stream (row counts, trailer).
    pub scanner: DumpScanner,
    /// Bytes of the compressed file.
    pub compressed_bytes: u64,
    /// sha256 of the compressed file, lowercase hex.
    pub sha256: String,
    /// sha256 and size of the gzip stream before encryption, when encrypted.
    pub plain: Option<crate::offsite::crypt::Digest256>,
}

/// Reads `input` to its end, scanning and gzipping it at `level` into `file` (at `path`, for
/// messages), encrypting the gzip stream to `recipients` when given, then fsyncs the file.
/// Runs on a blocking thread.
pub fn compress_stream(
    mut input: std::fs::File,
    file: std::fs::File,
    path: &Path,
    level: u32,
    recipients: Option<&Recipients>,
    shared: &Shared,
) -> Result<Written> {
    let io_err = |e: std::io::Error| Error::io(format!("writing {}", path.display()), e, path);
    let stored = HashingWriter::new(file, shared);
    let out = match recipients {
        None => Output::Plain(stored),
        Some(r) => Output::Sealed(r.encrypting(stored).map_err(io_err)?, Hashing::default()),
    };
    let mut gz = GzEncoder::new(
        BufWriter::with_capacity(OUT_BUFFER, out),
        flate2::Compression::new(level),
    );
    let mut scanner = DumpScanner::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading pg_dump's output", e, path)),
        };
        let before = scanner.tables.len();
        let was_in_table = scanner.current_table().is_some();
        scanner.feed(&buf[..n]);
        gz.write_all(&buf[..n])
            .map_err(|e| Error::io(format!("writing {}", path.display()), e, path))?;
        shared.raw.store(scanner.bytes, Ordering::Relaxed);
        let in_table = scanner.current_table().is_some();
        if scanner.tables.len() != before || was_in_table != in_table {
            publish_tables(&scanner, shared);
        }
    }
    let buffered = gz
        .finish()
        .map_err(|e| Error::io(format!("writing {}", path.display()), e, path))?;
    let out = buffered
        .into_inner()
        .map_err(|e| Error::io(format!("writing {}", path.display()), e.into_error(), path))?;
    let (out, plain) = match out {
        Output::Plain(w) => (w, None),
        Output::Sealed(w, h) => (w.finish().map_err(io_err)?, Some(h.finish())),
    };
    let (file, hasher, count) = out.into_parts();
    file.sync_all()
        .map_err(|e| Error::io(format!("syncing {}", path.display()), e, path))?;
    Ok(Written {
        scanner,
        compressed_bytes: count,
        sha256: hex::encode(hasher.finalize()),
        plain,
    })
}

/// Where the gzip stream goes: the file, or an age encryptor in front of it (hashing the
/// gzip stream on its way in).
enum Output<'a> {
    Plain(HashingWriter<'a>),
    Sealed(age::stream::StreamWriter<HashingWriter<'a>>, Hashing),
}

impl Write for Output<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Plain(w) => w.write(buf),
            Output::Sealed(w, h) => {
                let n = w.write(buf)?;
                h.update(&buf[..n]);
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Plain(w) => w.flush(),
            Output::Sealed(w, _) => w.flush(),
        }
    }
}

/// Publishes the rows of finished tables and the current table for the progress sampler.
fn publish_tables(scanner: &DumpScanner, shared: &Shared) {
    let done: u64 = match scanner.current_table() {
        Some(_) => scanner.tables[..scanner.tables.len() - 1]
            .iter()
            .map(|t| t.1)
            .sum(),
        None => scanner.rows(),
    };
    shared.rows_finished.store(done, Ordering::Relaxed);
    *shared.table.lock().unwrap_or_else(|p| p.into_inner()) =
        scanner.current_table().map(str::to_string);
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<'a> {
    inner: std::fs::File,
    hasher: Sha256,
    count: u64,
    shared: &'a Shared,
}

impl<'a> HashingWriter<'a> {
    fn new(inner: std::fs::File, shared: &'a Shared) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
            shared,
        }
    }

    fn into_parts(self) -> (std::fs::File, Sha256, u64) {
        (self.inner, self.hasher, self.count)
    }
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        self.shared.written.store(self.count, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;

    #[test]
    fn compresses_hashes_and_counts() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("in.sql");
        let dump = "COPY public.t (a) FROM stdin;\n1\n2\n\\.\n--\n-- PostgreSQL database dump complete\n--\n";
        std::fs::write(&src, dump).unwrap();
        let out = d.path().join("out.gz");
        let shared = Shared::default();
        let w = compress_stream(
            std::fs::File::open(&src).unwrap(),
            std::fs::File::create(&out).unwrap(),
            &out,
            6,
            None,
            &shared,
        )
        .unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(w.compressed_bytes, bytes.len() as u64);
        assert_eq!(w.sha256, hex::encode(Sha256::digest(&bytes)));
        let mut text = String::new();
        GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, dump);
        assert!(w.scanner.complete());
        assert_eq!(w.scanner.tables, vec![("public.t".to_string(), 2)]);
        assert_eq!(shared.rows_finished.load(Ordering::Relaxed), 2);
    }
}
