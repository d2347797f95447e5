//! Follows a log file by polling: the last lines first, then new lines as they are written.
//! A file that shrinks (truncated) or is replaced (rotated) is reopened from its start.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::logs::{LogEvent, LogSource};

/// How often the file is checked for new lines.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// How far back from the end the initial tail looks.
const TAIL_WINDOW: u64 = 4 * 1024 * 1024;

/// A log file on this host (the server's log, for the direct target).
#[derive(Debug, Clone)]
pub struct FileLogSource {
    /// The file followed.
    pub path: PathBuf,
}

impl FileLogSource {
    /// A source following `path`.
    pub fn new(path: impl Into<PathBuf>) -> FileLogSource {
        FileLogSource { path: path.into() }
    }
}

impl LogSource for FileLogSource {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn follow(&self, tail: usize, tx: UnboundedSender<LogEvent>) -> JoinHandle<()> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || follow_file(&path, tail, &tx))
    }
}

/// Where we are in the followed file.
struct Cursor {
    file: File,
    inode: u64,
    pos: u64,
    partial: Vec<u8>,
}

/// The last `n` lines of the file at `path` (for `pgkeep logs` without `-f`).
pub fn tail_lines(path: &Path, n: usize) -> std::io::Result<Vec<String>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL_WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // probably cut in the middle
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..].iter().map(|l| l.to_string()).collect())
}

fn open_at_tail(path: &Path, tail: usize, tx: &UnboundedSender<LogEvent>) -> Option<Cursor> {
    let mut file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let len = meta.len();
    let start = len.saturating_sub(TAIL_WINDOW);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // probably cut in the middle
    }
    let ends_complete = buf.last() == Some(&b'\n');
    let mut partial = Vec::new();
    if !ends_complete {
        if let Some(last) = lines.pop() {
            partial = last.as_bytes().to_vec();
        }
    }
    for l in lines.iter().skip(lines.len().saturating_sub(tail)) {
        let _ = tx.send(LogEvent::Line((*l).to_string()));
    }
    Some(Cursor {
        inode: meta.ino(),
        pos: start + buf.len() as u64,
        file,
        partial,
    })
}

fn follow_file(path: &Path, tail: usize, tx: &UnboundedSender<LogEvent>) {
    let mut cursor = open_at_tail(path, tail, tx);
    if cursor.is_none() {
        let _ = tx.send(LogEvent::Notice(format!(
            "cannot read {} yet; waiting for it (set [log] file in pgkeep.toml to follow another file)",
            path.display()
        )));
    }
    loop {
        if tx.is_closed() {
            return;
        }
        std::thread::sleep(POLL_EVERY);
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        let restart = match &cursor {
            None => true,
            Some(c) => meta.ino() != c.inode || meta.len() < c.pos,
        };
        if restart {
            let was_open = cursor.is_some();
            cursor = File::open(path).ok().map(|file| Cursor {
                file,
                inode: meta.ino(),
                pos: 0,
                partial: Vec::new(),
            });
            if was_open && cursor.is_some() {
                let _ = tx.send(LogEvent::Notice(format!(
                    "{} was rotated or truncated; following it from the start",
                    path.display()
                )));
            }
        }
        if let Some(c) = cursor.as_mut() {
            read_new(c, tx);
        }
    }
}

fn read_new(c: &mut Cursor, tx: &UnboundedSender<LogEvent>) {
    let mut buf = Vec::new();
    if c.file.seek(SeekFrom::Start(c.pos)).is_err() || c.file.read_to_end(&mut buf).is_err() {
        return;
    }
    c.pos += buf.len() as u64;
    c.partial.extend_from_slice(&buf);
    while let Some(nl) = c.partial.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = c.partial.drain(..=nl).collect();
        let text = String::from_utf8_lossy(&line[..line.len() - 1]);
        let _ = tx.send(LogEvent::Line(text.trim_end_matches('\r').to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    async fn next_line(rx: &mut tokio::sync::mpsc::UnboundedReceiver<LogEvent>) -> LogEvent {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap()
    }

    #[test]
    fn tail_lines_gives_the_last_n() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg.log");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        assert_eq!(tail_lines(&path, 2).unwrap(), vec!["two", "three"]);
        assert_eq!(tail_lines(&path, 9).unwrap().len(), 3);
    }

    #[tokio::test]
    async fn tails_follows_and_survives_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg.log");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let h = FileLogSource::new(&path).follow(2, tx);
        assert_eq!(next_line(&mut rx).await, LogEvent::Line("two".into()));
        assert_eq!(next_line(&mut rx).await, LogEvent::Line("three".into()));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(f, "fo").unwrap();
        f.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        writeln!(f, "ur").unwrap();
        assert_eq!(next_line(&mut rx).await, LogEvent::Line("four".into()));
        std::fs::write(&path, "new\n").unwrap();
        assert!(matches!(next_line(&mut rx).await, LogEvent::Notice(_)));
        assert_eq!(next_line(&mut rx).await, LogEvent::Line("new".into()));
        drop(rx);
        h.await.unwrap();
    }
}
