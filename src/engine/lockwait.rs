//! A backup waiting for a table lock: which table, which session holds it, and the one line
//! that ends a wait longer than `lock_wait_timeout`. Read from `pg_stat_activity` and
//! `pg_locks` for the pg_dump backend (found by its application_name); lock-free queries.

use std::time::Duration;

use tokio_postgres::Client;

use crate::error::Error;

/// What a pg_dump backend is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockWait {
    /// The table it waits for (`public.t`), when the lock is on a table.
    pub table: Option<String>,
    /// The sessions holding it up (`pg_blocking_pids`).
    pub blockers: Vec<i32>,
    /// The first blocker described: user, application, state, query start.
    pub blocker: String,
}

impl LockWait {
    /// "a lock on public.t held by pid 1234 (alice, psql, idle in transaction: LOCK t)".
    pub fn describe(&self) -> String {
        let on = self
            .table
            .as_deref()
            .map(|t| format!("a lock on {t}"))
            .unwrap_or_else(|| "a lock".into());
        match self.blockers.first() {
            Some(pid) => format!("{on} held by pid {pid} ({})", self.blocker),
            None => on,
        }
    }

    /// The error ending a wait of `waited`: names the blocker and the two ways out.
    pub fn timeout_error(&self, waited: Duration) -> Error {
        let end = match self.blockers.first() {
            Some(pid) => format!("end that session (`SELECT pg_terminate_backend({pid})`) or "),
            None => String::new(),
        };
        Error::Other(format!(
            "the backup waited {} s for {}; no backup was written: {end}raise lock_wait_timeout (config) / --lock-wait-timeout",
            waited.as_secs(),
            self.describe()
        ))
    }
}

/// What the backend with `app_name` waits for, None when it is not waiting for a lock.
pub async fn waiting(client: &Client, app_name: &str) -> Option<LockWait> {
    let row = client
        .query_opt(
            "SELECT pg_blocking_pids(a.pid),
                    (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                       FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE l.pid = a.pid AND NOT l.granted LIMIT 1)
               FROM pg_stat_activity a
              WHERE a.application_name = $1 AND a.wait_event_type = 'Lock' LIMIT 1",
            &[&app_name],
        )
        .await
        .ok()??;
    let blockers: Vec<i32> = row.get(0);
    let table: Option<String> = row.get(1);
    let blocker = match blockers.first() {
        Some(pid) => describe_session(client, *pid).await,
        None => String::new(),
    };
    Some(LockWait {
        table,
        blockers,
        blocker,
    })
}

async fn describe_session(client: &Client, pid: i32) -> String {
    let row = client
        .query_opt(
            "SELECT coalesce(usename::text, '?'), coalesce(nullif(application_name, ''), 'no application name'),
                    coalesce(state, '?'), left(regexp_replace(coalesce(query, ''), '\\s+', ' ', 'g'), 60)
               FROM pg_stat_activity WHERE pid = $1",
            &[&pid],
        )
        .await
        .ok()
        .flatten();
    match row {
        Some(r) => format!(
            "user {}, {}, {}: {}",
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2),
            r.get::<_, String>(3)
        ),
        None => "a session that has ended".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_line_names_table_blocker_and_fix() {
        let w = LockWait {
            table: Some("public.t".into()),
            blockers: vec![4242],
            blocker: "user app, psql, idle in transaction: LOCK t".into(),
        };
        let m = w.timeout_error(Duration::from_secs(5)).to_string();
        assert!(m.contains("public.t") && m.contains("pid 4242"), "{m}");
        assert!(m.contains("pg_terminate_backend(4242)") && m.contains("lock_wait_timeout"));
        assert!(!m.contains('\n'));
    }
}
