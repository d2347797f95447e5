//! Whether scheduled backups actually run: a cron daemon is running when the schedule is in
//! the crontab, and the last scheduled run succeeded. Shared by `doctor`, `status` and the
//! console's status pane (through the doctor's failing checks).

use std::path::Path;

use super::checks::Check;
use super::doctor_checks::{fail, pass};
use crate::schedule::last_run::{self, LastRun};
use crate::schedule::CrontabState;

/// Name of the cron daemon check.
pub const DAEMON: &str = "cron daemon";
/// Name of the last scheduled run check.
pub const LAST_RUN: &str = "last scheduled run";

/// The cron daemon check, when the schedule is in the crontab (None otherwise).
pub fn daemon(state: &CrontabState, running: bool) -> Option<Check> {
    if !matches!(state, CrontabState::Matches | CrontabState::Differs(_)) {
        return None;
    }
    Some(if running {
        pass(DAEMON, "a cron daemon is running")
    } else {
        fail(
            DAEMON,
            "the schedule is in the crontab but no cron daemon (cron/crond) is running: no scheduled backup will run",
            Some("sudo service cron start   # or run `pgkeep daemon` instead".into()),
        )
    })
}

/// The last scheduled run's outcome as a check; None when no run was recorded.
pub fn last_run_check(backup_dir: &Path, last: Option<&LastRun>) -> Option<Check> {
    let run = last?;
    let when = run
        .at
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M");
    Some(if run.ok {
        pass(LAST_RUN, format!("{when}: {}", run.message))
    } else {
        fail(
            LAST_RUN,
            format!("the scheduled run of {when} FAILED: {}", run.message),
            Some(format!(
                "tail -n 30 {}",
                backup_dir.join(crate::schedule::CRON_LOG_NAME).display()
            )),
        )
    })
}

/// Both checks for `backup_dir` and the crontab state, as they are now.
pub fn checks(backup_dir: &Path, state: &CrontabState) -> Vec<Check> {
    let running = crate::schedule::crontab::daemon_running();
    let last = last_run::read(backup_dir);
    daemon(state, running)
        .into_iter()
        .chain(last_run_check(backup_dir, last.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_daemon_with_an_installed_schedule_fails_and_a_failed_run_shows() {
        let c = daemon(&CrontabState::Matches, false).unwrap();
        assert!(!c.ok && c.fix.unwrap().contains("cron start"));
        assert!(daemon(&CrontabState::NotInstalled, false).is_none());
        assert!(daemon(&CrontabState::Matches, true).unwrap().ok);
        let run = LastRun {
            at: chrono::Utc::now(),
            ok: false,
            message: "backup FAILED: cannot reach the docker engine".into(),
        };
        let c = last_run_check(Path::new("/p/db"), Some(&run)).unwrap();
        assert!(!c.ok && c.detail.contains("docker engine"), "{}", c.detail);
        assert!(c.fix.unwrap().contains("/p/db/pgkeep-cron.log"));
    }
}
