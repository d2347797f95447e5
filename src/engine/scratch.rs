//! Scratch databases: where restores and verifications load a dump before anything else is
//! touched. Named `<db>_pgkeep_scratch_<pid>_<n>` so a later run can tell whose they are: a
//! scratch database whose process is gone and that nobody is connected to is abandoned (a
//! restore killed with SIGKILL) and is dropped by the next restore, verify or cleanup.
//! Also the names of replaced databases, `<db>_pre_restore_<YYYYMMDDHHMMSS>`.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use crate::engine::dbprops::{quote_ident, DbProps};
use crate::error::Result;
use crate::target::{self, Target};

/// Marker inside every scratch database's name.
pub const SCRATCH_MARK: &str = "_pgkeep_scratch_";
/// Marker inside the name of a database replaced by a restore.
pub const PRE_RESTORE_MARK: &str = "_pre_restore_";
/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The first `max` bytes of `s`, cut at a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A fresh scratch name for `database`, unique within this process.
pub fn scratch_name(database: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tail = format!("{SCRATCH_MARK}{}_{n}", std::process::id());
    format!("{}{tail}", prefix(database, MAX_NAME - tail.len()))
}

/// The pid of the process that created scratch database `name`, if it is one.
pub fn scratch_owner(name: &str) -> Option<i32> {
    let (_, rest) = name.rsplit_once(SCRATCH_MARK)?;
    let (pid, n) = rest.split_once('_')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// The name the live database gets when a restore replaces it at `at`.
pub fn pre_restore_name(database: &str, at: DateTime<Utc>) -> String {
    let tail = format!("{PRE_RESTORE_MARK}{}", at.format("%Y%m%d%H%M%S"));
    format!("{}{tail}", prefix(database, MAX_NAME - tail.len()))
}

/// True for a `<db>_pre_restore_<14 digits>` name, or `<…>_<n>` when two restores replaced
/// the database within one second.
pub fn is_pre_restore(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.rsplit_once(PRE_RESTORE_MARK).is_some_and(|(db, ts)| {
        let (ts, n) = ts.split_once('_').unwrap_or((ts, "0"));
        !db.is_empty() && ts.len() == 14 && digits(ts) && digits(n)
    })
}

/// A name for the replaced database that no database has yet: [`pre_restore_name`], with
/// `_2`, `_3`, … added when a restore in the same second took it.
pub async fn free_pre_restore_name(
    admin: &Client,
    database: &str,
    at: DateTime<Utc>,
) -> Result<String> {
    let base = pre_restore_name(database, at);
    for n in 1..1000u32 {
        let name = if n == 1 {
            base.clone()
        } else {
            let tail = format!("_{n}");
            format!("{}{tail}", prefix(&base, MAX_NAME - tail.len()))
        };
        let taken = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .map_err(target::sql_error)?
            .is_some();
        if !taken {
            return Ok(name);
        }
    }
    Ok(base)
}

/// Whether a process with this pid exists on this host.
fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

/// Connects to the server's maintenance database (`postgres`, else `template1`), for
/// creating, renaming and dropping databases.
pub async fn admin_connect(target: &dyn Target) -> Result<Client> {
    admin_connect_avoiding(target, "").await
}

/// Like [`admin_connect`], but never connected to `avoid` (a database about to be renamed
/// cannot be the session's own).
pub async fn admin_connect_avoiding(target: &dyn Target, avoid: &str) -> Result<Client> {
    if avoid != "postgres" {
        match target::connect(target, "postgres").await {
            Err(crate::Error::NoSuchDatabase(_)) => {}
            other => return other,
        }
    }
    target::connect(target, "template1").await
}

/// Creates an empty scratch database shaped like `like` (encoding, locale, tablespace) from
/// template0, or with the server's defaults when there is nothing to copy.
pub async fn create(admin: &Client, name: &str, like: Option<&DbProps>) -> Result<()> {
    let sql = match like {
        Some(p) => p.create_sql(name),
        None => format!("CREATE DATABASE {} TEMPLATE template0", quote_ident(name)),
    };
    admin.batch_execute(&sql).await.map_err(target::sql_error)
}

/// Drops a database, ending any session still in it (an autovacuum worker included: a drop
/// that finds the database still in use is retried a few times). Missing is fine. A template
/// flag (a restored `IS_TEMPLATE` database renamed aside) would make `DROP DATABASE` fail: it
/// is cleared first.
pub async fn drop(admin: &Client, name: &str) -> Result<()> {
    let flags = admin
        .query_opt(
            "SELECT datistemplate FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .map_err(target::sql_error)?;
    let Some(flags) = flags else { return Ok(()) };
    if flags.get::<_, bool>(0) {
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} IS_TEMPLATE false",
                quote_ident(name)
            ))
            .await
            .map_err(target::sql_error)?;
    }
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    let mut attempt = 0;
    loop {
        attempt += 1;
        match admin.batch_execute(&sql).await {
            Ok(()) => return Ok(()),
            Err(e) if e.code().is_some_and(|c| c.code() == "55006") && attempt < 10 => {
                let _ = admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                          WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&name],
                    )
                    .await;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(target::sql_error(e)),
        }
    }
}

/// Drops a database like [`drop`], first dropping the logical-replication subscriptions in
/// it (which would make `DROP DATABASE` fail); connects to it for that through `target`.
pub async fn drop_in(target: &dyn Target, admin: &Client, name: &str) -> Result<()> {
    crate::engine::subscriptions::detach_all(target, admin, name).await?;
    drop(admin, name).await
}

/// Scratch databases whose process is gone and that have no client sessions (autovacuum or
/// other background workers in them do not count: the drop ends them).
pub async fn abandoned(admin: &Client) -> Result<Vec<String>> {
    let rows = admin
        .query(
            "SELECT d.datname FROM pg_database d
              WHERE strpos(d.datname, $1) > 0
                AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                 WHERE a.datid = d.oid AND a.backend_type = 'client backend')
              ORDER BY 1",
            &[&SCRATCH_MARK],
        )
        .await
        .map_err(target::sql_error)?;
    Ok(rows
        .into_iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|n| scratch_owner(n).is_some_and(|pid| !pid_alive(pid)))
        .collect())
}

/// Drops every abandoned scratch database; returns the names dropped, and one line for each
/// that could not be (which never stops the caller: one stuck database must not block every
/// restore on the server).
pub async fn drop_abandoned(
    target: &dyn Target,
    admin: &Client,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut dropped = Vec::new();
    let mut failed = Vec::new();
    for n in abandoned(admin).await? {
        match drop_in(target, admin, &n).await {
            Ok(()) => dropped.push(n),
            Err(e) => failed.push(format!(
                "could not drop abandoned scratch database {n}: {e}"
            )),
        }
    }
    Ok((dropped, failed))
}

/// The `_pre_restore_` databases on the server, oldest name first.
pub async fn pre_restore_databases(admin: &Client) -> Result<Vec<String>> {
    let rows = admin
        .query(
            "SELECT datname FROM pg_database WHERE strpos(datname, $1) > 0 ORDER BY 1",
            &[&PRE_RESTORE_MARK],
        )
        .await
        .map_err(target::sql_error)?;
    Ok(rows
        .into_iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|n| is_pre_restore(n))
        .collect())
}

/// A log line naming the abandoned scratch databases that were dropped, if any.
pub fn dropped_line(names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| {
        format!(
            "dropped abandoned scratch database(s): {}",
            names.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn scratch_names_carry_the_pid_and_fit() {
        let n = scratch_name("shop");
        assert_eq!(scratch_owner(&n), Some(std::process::id() as i32));
        let long = "x".repeat(80);
        let n = scratch_name(&long);
        assert!(n.len() <= 63, "{n}");
        assert_eq!(scratch_owner(&n), Some(std::process::id() as i32));
        assert_eq!(scratch_owner("shop"), None);
        assert_eq!(scratch_owner("a_pgkeep_scratch_12_"), None);
    }

    #[test]
    fn pre_restore_names() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 5).unwrap();
        let n = pre_restore_name("shop", t);
        assert_eq!(n, "shop_pre_restore_20261124020005");
        assert!(is_pre_restore(&n));
        assert!(!is_pre_restore("shop_pre_restore_2026"));
        assert!(is_pre_restore("shop_pre_restore_20261124020005_2"));
        assert!(!is_pre_restore("shop_pre_restore_20261124020005_x"));
        assert!(pre_restore_name(&"é".repeat(40), t).len() <= 63);
    }

    #[test]
    fn dead_pids_are_not_alive() {
        assert!(pid_alive(std::process::id() as i32));
        assert!(!pid_alive(0));
        assert!(!pid_alive(i32::MAX));
    }
}
