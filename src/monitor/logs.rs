//! Log sources for the log pane and `pgkeep logs`: a source follows some log and sends
//! [`LogEvent`]s into a channel. The console issue builds the file source (the server's log
//! file or `pg_current_logfile()`); the compose issue adds `docker logs -f`.

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

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
