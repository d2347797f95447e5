//! The console's status refresh: a snapshot every [`STATUS_EVERY`], the doctor checks less
//! often, and care for a server that refuses us. When the server refuses the credentials
//! (the container was recreated with a new password), the target is discovered again from
//! the compose file, its environment and `.env`, so the console picks up what cron would
//! use; while it keeps refusing, the refresh backs off (5 s, 10 s, … 60 s) instead of
//! writing `FATAL: password authentication failed` into the server's log every 5 s.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::msg::Msg;
use crate::config::Config;
use crate::monitor::status;
use crate::target::Target;

/// How often the server status is refreshed while all is well.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);
/// The longest wait between attempts while the server refuses us.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Doctor checks run every this many status rounds (once a minute): they ask docker and
/// start pg_dump, too much for every round.
pub const CHECKS_EVERY_ROUNDS: u64 = 12;

/// The target the console's jobs and refreshes use; replaced when credentials change.
#[derive(Clone)]
pub struct SharedTarget(Arc<RwLock<Arc<dyn Target>>>);

impl SharedTarget {
    /// Shares `target`.
    pub fn new(target: Arc<dyn Target>) -> SharedTarget {
        SharedTarget(Arc::new(RwLock::new(target)))
    }

    /// The target in use now.
    pub fn get(&self) -> Arc<dyn Target> {
        match self.0.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, target: Arc<dyn Target>) {
        match self.0.write() {
            Ok(mut t) => *t = target,
            Err(poisoned) => *poisoned.into_inner() = target,
        }
    }
}

/// Whether a status problem says the server is up but refuses these credentials (each such
/// attempt is a FATAL line in the server's log).
pub fn refused(problem: &str) -> bool {
    [
        "password authentication failed",
        "asks for a password",
        "refused the connection",
        "role \"",
    ]
    .iter()
    .any(|p| problem.contains(p))
}

/// The wait after a round: [`STATUS_EVERY`] when all is well, doubled for each round refused
/// in a row, at most [`MAX_BACKOFF`].
pub fn next_wait(refused_rounds: u32) -> Duration {
    let factor = 1u32 << refused_rounds.min(8);
    (STATUS_EVERY * factor).min(MAX_BACKOFF)
}

/// Sends a status snapshot after every round until the receiver is gone.
pub async fn run(tx: UnboundedSender<Msg>, target: SharedTarget, config: Config) {
    let mut checks = Vec::new();
    let mut checked_liveness = None;
    let mut since_checks = 0u64;
    let mut refused_rounds = 0u32;
    loop {
        let current = target.get();
        let mut s = status::collect(current.as_ref(), &config.backup_dir).await;
        let was_refused = s.problem.as_deref().is_some_and(refused);
        let mut credentials_changed = false;
        if was_refused {
            if let Ok(fresh) = crate::target::from_config(&config).await {
                let db = current.database().to_string();
                if fresh.pg_config(&db) != current.pg_config(&db) {
                    target.set(Arc::from(fresh));
                    credentials_changed = true;
                }
            }
        }
        // Checks taken while the server was down (or restarting) would keep saying so for a
        // minute after it came back: run them again when that changes.
        let liveness = Some(s.liveness());
        if since_checks >= CHECKS_EVERY_ROUNDS || liveness != checked_liveness {
            checks = status::failing_checks(&config).await;
            checked_liveness = liveness;
            since_checks = 0;
        }
        since_checks += 1;
        s.checks = checks.clone();
        if s.server.is_some() {
            let timeline = crate::monitor::pitr_timeline::collect(&config, current.as_ref()).await;
            s.recovery_window = timeline.as_ref().map(|t| t.window.clone());
            if let Some(t) = timeline {
                let _ = tx.send(Msg::Pitr(Box::new(t)));
            }
        }
        if tx.send(Msg::Status(Box::new(s))).is_err() {
            return;
        }
        refused_rounds = match (was_refused, credentials_changed) {
            (true, false) => refused_rounds + 1,
            _ => 0,
        };
        let wait = if credentials_changed {
            Duration::from_millis(200)
        } else {
            next_wait(refused_rounds)
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_while_refused() {
        assert_eq!(next_wait(0), Duration::from_secs(5));
        assert_eq!(next_wait(1), Duration::from_secs(10));
        assert_eq!(next_wait(3), Duration::from_secs(40));
        assert_eq!(next_wait(4), MAX_BACKOFF);
        assert_eq!(next_wait(30), MAX_BACKOFF);
        assert!(refused(
            "password authentication failed for user \"app\" at db: check PGPASSWORD"
        ));
        assert!(!refused(
            "cannot reach the database server at db: timed out"
        ));
    }
}
