//! Server log lines caused by pgkeep's own jobs — its scratch databases, its connections
//! (application name `pgkeep-…`), the connections a verify's cleanup ends and the immediate
//! checkpoint CREATE/DROP DATABASE forces — are labelled and dimmed in the log pane instead
//! of shown as alarms: a red FATAL after every successful verify teaches the operator to
//! ignore red.

use crate::engine::scratch::SCRATCH_MARK;

/// The label put before a line pgkeep's own jobs caused.
pub const LABEL: &str = "[pgkeep job] ";

/// Lines that are pgkeep's when they appear while one of its jobs runs (or just after).
const DURING_A_JOB: &[&str] = &[
    "terminating connection due to administrator command",
    "could not send data to client: Broken pipe",
    "checkpoint starting: immediate force wait",
];

/// The application names pgkeep's jobs connect with (shown with `%a` in log_line_prefix).
const APP_NAMES: &[&str] = &[
    "pgkeep-verify-",
    "pgkeep-backup-",
    "pgkeep-restore-",
    "pgkeep-version",
];

/// Whether `line` names pgkeep's scratch databases or connections, whenever it appears.
pub fn names_pgkeep(line: &str) -> bool {
    line.contains(SCRATCH_MARK)
        || line.contains("_pre_restore_")
        || APP_NAMES.iter().any(|a| line.contains(a))
}

/// Whether `line` was caused by pgkeep: it names pgkeep, or it is one of the lines a job's
/// scratch database work causes and a job is running or just ended (`job_recent`);
/// `after_own_checkpoint` says the last checkpoint started was pgkeep's (so its "checkpoint
/// complete" is too).
pub fn is_own(line: &str, job_recent: bool, after_own_checkpoint: bool) -> bool {
    names_pgkeep(line)
        || (job_recent && DURING_A_JOB.iter().any(|p| line.contains(p)))
        || (after_own_checkpoint && line.contains("checkpoint complete"))
}

/// The line as the pane keeps it: labelled when it is pgkeep's own.
pub fn label(line: String, own: bool) -> String {
    if own {
        format!("{LABEL}{line}")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_and_cleanup_lines_are_pgkeeps() {
        assert!(is_own(
            "LOG:  statement: DROP DATABASE shop_pgkeep_scratch_12_3",
            false,
            false
        ));
        let fatal = "2026-12-01 15:41:09.063 UTC [19605] FATAL:  terminating connection due to administrator command";
        assert!(is_own(fatal, true, false));
        assert!(!is_own(fatal, false, false), "without a job it is an alarm");
        assert!(!is_own(
            "FATAL:  password authentication failed for user \"app\"",
            true,
            false
        ));
        assert!(is_own(
            "LOG:  checkpoint complete: wrote 3 buffers",
            false,
            true
        ));
        assert!(!is_own(
            "LOG:  listening on Unix socket \"/tmp/pgkeep-test-x/.s.PGSQL.5432\"",
            true,
            false
        ));
    }
}
