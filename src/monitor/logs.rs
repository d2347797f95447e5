//! Log sources for the log pane and `pgkeep logs`: a source follows some log and sends
//! [`LogEvent`]s into a channel. The console issue builds the file source (the server's log
//! file or `pg_current_logfile()`); the compose issue adds `docker logs -f`.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::file_log::FileLogSource;
use crate::config::Config;
use crate::target::Target;

/// What a log source sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    /// One line of the log.
    Line(String),
    /// A note about the source itself ("no log source: ...", "container restarted, reconnecting").
    Notice(String),
}

/// Something that can follow a log.
pub trait LogSource: Send + Sync + std::fmt::Debug {
    /// Where the lines come from, for the pane's title.
    fn describe(&self) -> String;
    /// Starts following: first the last `tail` lines, then new ones as they come, until the
    /// receiver is dropped.
    fn follow(&self, tail: usize, tx: UnboundedSender<LogEvent>) -> JoinHandle<()>;
}

/// Used when no log can be followed: sends one notice saying how to configure a source.
#[derive(Debug, Clone)]
pub struct NoLogSource {
    /// Why there is no source and what to do.
    pub notice: String,
}

impl LogSource for NoLogSource {
    fn describe(&self) -> String {
        "no log source".into()
    }

    fn follow(&self, _tail: usize, tx: UnboundedSender<LogEvent>) -> JoinHandle<()> {
        let notice = self.notice.clone();
        tokio::spawn(async move {
            let _ = tx.send(LogEvent::Notice(notice));
        })
    }
}

/// The notice shown when the server's log cannot be followed.
pub const HOW_TO_CONFIGURE: &str =
    "no log source: set file = \"/path/to/postgresql.log\" under [log] in pgkeep.toml to follow the server's log here";

/// Picks the log source for the configuration: `log.file` when set; otherwise, for the
/// direct target, the server's `pg_current_logfile()` when this user can read it; otherwise
/// a [`NoLogSource`] saying how to configure one.
pub async fn source_for(config: &Config, target: &dyn Target) -> Box<dyn LogSource> {
    if let Some(file) = &config.log.file {
        return Box::new(FileLogSource::new(file));
    }
    if let Some(docker) = crate::monitor::docker_logs::for_target(target) {
        return Box::new(docker);
    }
    if target.kind_name() == "direct" {
        if let Some(path) = current_logfile(target).await {
            return Box::new(FileLogSource::new(path));
        }
    }
    Box::new(NoLogSource {
        notice: HOW_TO_CONFIGURE.to_string(),
    })
}

/// The server's current log file, when it exists and is readable from here:
/// `pg_current_logfile()` against `data_directory` (logging_collector on); else, for a server
/// on this host, the file its standard error goes to (`pg_ctl -l FILE`, read from
/// `/proc/<backend pid>/fd/2` while connected).
pub async fn current_logfile(target: &dyn Target) -> Option<PathBuf> {
    let client = crate::target::connect(target, target.database())
        .await
        .ok()?;
    let row = client
        .query_one(
            "SELECT pg_current_logfile(), current_setting('data_directory'), pg_backend_pid()",
            &[],
        )
        .await
        .ok()?;
    let file: Option<String> = row.get(0);
    let data_dir: String = row.get(1);
    let pid: i32 = row.get(2);
    if let Some(f) = file {
        let path = Path::new(&data_dir).join(f);
        if std::fs::File::open(&path).is_ok() {
            return Some(path);
        }
    }
    stderr_file_of(pid)
}

/// The regular file a local postgres process writes its standard error to, if any (not a
/// pipe, a terminal or /dev/null). Checks that the process is postgres, so a remote server's
/// pid that happens to exist here is not mistaken for it.
fn stderr_file_of(pid: i32) -> Option<PathBuf> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if !comm.trim().starts_with("postgres") {
        return None;
    }
    let path = std::fs::read_link(format!("/proc/{pid}/fd/2")).ok()?;
    let meta = std::fs::metadata(&path).ok()?;
    (meta.is_file() && std::fs::File::open(&path).is_ok()).then_some(path)
}
