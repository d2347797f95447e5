//! Reading a recovering server's log as it grows: progress (segments restored), where recovery
//! stopped, and whether the server came up — success is known only from the server's own
//! words; a FATAL or PANIC becomes one line with the fix ([`explain_fatal`]).

use super::scratch_server::{explain_fatal, RecoveryReport};
use crate::engine::progress::Sink;
use crate::error::{Error, Result};

/// The state of reading one server log from its start.
#[derive(Debug, Default)]
pub struct RecoveryLog {
    seen: usize,
    restored: u64,
    /// What the server said so far.
    pub report: RecoveryReport,
}

impl RecoveryLog {
    /// Reads the complete lines of `text` (the whole log so far) not read yet. Returns true
    /// once the server says it accepts connections (after promotion: the scratch servers run
    /// with `hot_standby = off`); a FATAL or PANIC line is an error with the fix.
    pub fn feed(&mut self, text: &str, sink: &Sink) -> Result<bool> {
        let new = &text[self.seen.min(text.len())..];
        let complete = new.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let mut ready = false;
        for line in new[..complete].lines() {
            if line.contains("restored log file") {
                self.restored += 1;
                if self.restored % 16 == 1 {
                    sink.log(format!("WAL replayed: {} segments", self.restored));
                }
            } else if let Some(i) = line.find("recovery stopping before") {
                self.report.stopped_before = Some(line[i..].to_string());
                sink.log(line[i..].to_string());
            } else if let Some(i) = line.find("last completed transaction was at log time") {
                self.report.last_transaction = Some(line[i..].to_string());
                sink.log(line[i..].to_string());
            } else if line.contains("database system is ready to accept connections") {
                ready = true;
            } else if line.contains("FATAL:") || line.contains("PANIC:") {
                return Err(Error::Refused(explain_fatal(line)));
            }
        }
        self.seen = text.len() - new.len() + complete;
        if ready {
            sink.log(format!(
                "WAL replayed: {} segments; the scratch server is up",
                self.restored
            ));
        }
        Ok(ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_progress_stop_point_and_readiness_across_partial_lines() {
        let mut log = RecoveryLog::default();
        let sink = Sink::none();
        let a = "LOG:  restored log file \"000000010000000000000003\" from archive\nLOG:  recovery stopping before commit of transaction 745, time 2026-12-01 14:31:02+00\nLOG:  database system is ready to acc";
        assert!(!log.feed(a, &sink).unwrap());
        assert!(log
            .report
            .stopped_before
            .as_deref()
            .unwrap()
            .contains("transaction 745"));
        let b = format!("{a}ept connections\n");
        assert!(log.feed(&b, &sink).unwrap());
        let c =
            format!("{b}FATAL:  recovery ended before configured recovery target was reached\n");
        let err = log.feed(&c, &sink).unwrap_err().to_string();
        assert!(err.contains("choose an earlier time"), "{err}");
    }
}
