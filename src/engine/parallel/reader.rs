//! The reading half of the parallel load: the checked stream (sha256, gzip, trailer) is
//! split into statements, which go to the coordinator in dump order, while each table's COPY
//! data is spooled to its own file in the backup directory (0600, removed when its COPY is
//! done or the load ends, whatever the outcome). A worker starts a table's COPY as soon as
//! its first rows are spooled and follows the file as it grows, so the stream is read once,
//! at its own speed, while several COPYs run.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tokio::sync::Notify;

use super::split::{EntryHeader, Piece, Splitter};

/// Spooled bytes not yet sent to the server above which reading waits (bounds the disk
/// space the spool takes while the server is slower than the stream).
pub const SPOOL_CAP: u64 = 4 << 30;

/// Free space the backup folder must keep beside the spool files (and what the hole
/// punching of sent rows lets accumulate per COPY before it runs): the parallel load is not
/// started when the folder cannot hold the spool with this much left over.
pub const SPOOL_MARGIN: u64 = 256 << 20;

/// Why the folder `dir` cannot hold the spool files of a dump of `raw_bytes` SQL bytes,
/// if it cannot: they take at most [`SPOOL_CAP`] (sent rows are released as a COPY goes),
/// and the disk may be the database's own, which a restore must not fill.
pub fn spool_space_short(dir: &Path, raw_bytes: u64) -> Option<String> {
    let free = crate::engine::fsutil::free_space(dir).ok()?;
    let need = raw_bytes.min(SPOOL_CAP) + SPOOL_MARGIN;
    let size = |b: u64| humansize::format_size(b, humansize::BINARY);
    (free < need).then(|| {
        format!(
            "{} has {} free, and its spool files could take {}",
            dir.display(),
            size(free),
            size(need)
        )
    })
}

/// One table's spooled COPY data.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    /// Bytes in the file so far.
    pub written: AtomicU64,
    /// Set once the `\.` line was read: `written` is final.
    pub done: AtomicBool,
    /// Woken on every write and at the end.
    pub grown: Notify,
}

impl Spool {
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until more rows are written or the spool is complete (at most 10 ms: a wake-up
    /// between the caller's check and this wait is not lost for long).
    pub async fn wait_for_more(&self) {
        let _ = tokio::time::timeout(Duration::from_millis(10), self.grown.notified()).await;
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where the spool files go and how many bytes wait in them.
#[derive(Debug)]
pub struct SpoolDir {
    dir: PathBuf,
    prefix: String,
    seq: AtomicU64,
    /// Spooled bytes not yet sent (workers subtract what they send).
    pub pending: AtomicU64,
}

/// The start of every spool file's name (`.pgkeep-spool-<pid>-<n>`).
pub const SPOOL_PREFIX: &str = ".pgkeep-spool-";

impl SpoolDir {
    /// Spool files in `dir`, named after this process.
    pub fn new(dir: &Path) -> SpoolDir {
        SpoolDir {
            dir: dir.to_path_buf(),
            prefix: format!("{SPOOL_PREFIX}{}-", std::process::id()),
            seq: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    fn create(&self) -> std::io::Result<(Arc<Spool>, File)> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{}{n}", self.prefix));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok((
            Arc::new(Spool {
                path,
                written: AtomicU64::new(0),
                done: AtomicBool::new(false),
                grown: Notify::new(),
            }),
            file,
        ))
    }

    /// Removes spool files left by pgkeep processes that are gone (killed mid-load).
    pub fn remove_abandoned(dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(SPOOL_PREFIX) else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
            if let Some(pid) = pid {
                let alive = !matches!(
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                    Err(nix::errno::Errno::ESRCH)
                );
                if !alive {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// What the reader hands the coordinator, in dump order.
#[derive(Debug)]
pub enum Item {
    /// An entry header.
    Header(EntryHeader),
    /// A statement.
    Statement(String),
    /// A COPY statement; its data is arriving in `spool`.
    Copy {
        /// The `COPY … FROM stdin;` statement.
        sql: String,
        /// The spooled rows.
        spool: Arc<Spool>,
    },
    /// A psql meta-command line.
    Meta(String),
    /// Something only the serial loader can do.
    Unsupported(String),
}

/// The `Write` end the checked stream is decoded into.
pub struct Feeder {
    splitter: Splitter,
    tx: Sender<Item>,
    spools: Arc<SpoolDir>,
    copy: Option<(Arc<Spool>, File)>,
    /// Set when the load failed: the stream is still read to its end (so a damaged file is
    /// reported as such) but nothing more is split or spooled.
    pub discard: Arc<AtomicBool>,
}

impl Feeder {
    /// A feeder sending items to `tx` and spooling into `spools`.
    pub fn new(tx: Sender<Item>, spools: Arc<SpoolDir>, discard: Arc<AtomicBool>) -> Feeder {
        Feeder {
            splitter: Splitter::new(),
            tx,
            spools,
            copy: None,
            discard,
        }
    }

    /// Ends the stream (a last statement without `;`).
    pub fn finish(&mut self) -> std::io::Result<()> {
        let mut splitter = std::mem::take(&mut self.splitter);
        let r = splitter.finish(&mut |p| self.piece(p));
        self.splitter = splitter;
        r
    }

    fn send(&self, item: Item) -> std::io::Result<()> {
        self.tx
            .blocking_send(item)
            .map_err(|_| std::io::Error::other("the load stopped"))
    }

    fn piece(&mut self, p: Piece) -> std::io::Result<()> {
        if self.discard.load(Ordering::Relaxed) {
            return Ok(());
        }
        match p {
            Piece::Header(h) => self.send(Item::Header(h)),
            Piece::Statement(s) => self.send(Item::Statement(s.to_string())),
            Piece::Meta(m) => self.send(Item::Meta(m.to_string())),
            Piece::Unsupported(r) => self.send(Item::Unsupported(r)),
            Piece::CopyStart(sql) => {
                let (spool, file) = self.spools.create()?;
                self.copy = Some((spool.clone(), file));
                self.send(Item::Copy {
                    sql: sql.to_string(),
                    spool,
                })
            }
            Piece::CopyData(d) => {
                while self.spools.pending.load(Ordering::Relaxed) > SPOOL_CAP
                    && !self.discard.load(Ordering::Relaxed)
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let Some((spool, file)) = &mut self.copy else {
                    return Ok(());
                };
                file.write_all(d)?;
                self.spools
                    .pending
                    .fetch_add(d.len() as u64, Ordering::Relaxed);
                spool.written.fetch_add(d.len() as u64, Ordering::Release);
                spool.grown.notify_waiters();
                Ok(())
            }
            Piece::CopyEnd => {
                if let Some((spool, _file)) = self.copy.take() {
                    spool.done.store(true, Ordering::Release);
                    spool.grown.notify_waiters();
                }
                Ok(())
            }
        }
    }
}

impl Write for Feeder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.discard.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        let mut splitter = std::mem::take(&mut self.splitter);
        let r = splitter.feed(buf, &mut |p| self.piece(p));
        self.splitter = splitter;
        r.map(|_| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl Spool {
    /// A finished spool of `bytes` bytes without a file (for the scheduler's tests).
    pub fn for_test(bytes: u64) -> Spool {
        Spool {
            path: PathBuf::from("/nonexistent/pgkeep-test-spool"),
            written: AtomicU64::new(bytes),
            done: AtomicBool::new(true),
            grown: Notify::new(),
        }
    }
}
