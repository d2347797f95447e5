//! A held lock never hangs a backup silently: the progress says what it waits for and
//! `--lock-wait-timeout` ends the wait with one line naming the session holding it.

mod common;

use std::process::Stdio;

use common::{cluster, complete_backups, partial_backups, pgkeep, stderr, Cluster};

/// A psql session (application `lock-holder`) holding ACCESS EXCLUSIVE on table `t` of `db`
/// for two minutes, and its backend pid once the lock is granted.
fn hold_exclusive_lock(c: &Cluster, db: &str) -> (std::process::Child, String) {
    let mut holder = c
        .client_cmd("psql")
        .args(["-X", "-q", "-d", db])
        .env("PGAPPNAME", "lock-holder")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = holder.stdin.as_mut().unwrap();
        stdin
            .write_all(b"BEGIN;\nLOCK TABLE t IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(120);\n")
            .unwrap();
        stdin.flush().unwrap();
    }
    let pid = c
        .wait_for(
            db,
            "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
              WHERE a.application_name = 'lock-holder' AND l.mode = 'AccessExclusiveLock'
                AND l.granted AND l.relation = 'public.t'::regclass",
            20,
        )
        .expect("the lock is held");
    (holder, pid)
}

#[test]
fn a_backup_behind_an_exclusive_lock_names_the_blocker_and_gives_up_at_the_limit() {
    let c = cluster();
    let db = c.new_db("lockwait");
    c.psql(
        &db,
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g",
    );
    let (mut holder, pid) = hold_exclusive_lock(c, &db);
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup", "--lock-wait-timeout", "2"]);
    let _ = holder.kill();
    let _ = holder.wait();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("public.t"), "{err}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    assert!(err.contains("lock-holder"), "{err}");
    assert!(err.contains("lock_wait_timeout"), "{err}");
    assert!(complete_backups(dir.path()).is_empty());
    assert!(partial_backups(dir.path()).is_empty());
}

#[test]
fn a_restores_safety_backup_behind_an_exclusive_lock_gives_up_at_the_configured_limit() {
    let c = cluster();
    let db = c.new_db("lockwait_restore");
    c.psql(
        &db,
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g",
    );
    let dir = tempfile::tempdir().unwrap();
    let made = pgkeep(&db, dir.path(), &["backup"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let config = dir.path().join("pgkeep.toml");
    std::fs::write(&config, "lock_wait_timeout = 2\n").unwrap();
    let (mut holder, pid) = hold_exclusive_lock(c, &db);
    let out = pgkeep(
        &db,
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "restore",
            "latest",
            "--yes",
        ],
    );
    let _ = holder.kill();
    let _ = holder.wait();
    // The killed client's backend would sleep on with its lock: end it.
    c.psql("postgres", &format!("SELECT pg_terminate_backend({pid})"));
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("public.t"), "{err}");
    assert!(err.contains("lock-holder"), "{err}");
    assert!(err.contains("live database was not changed"), "{err}");
    assert_eq!(
        complete_backups(dir.path()).len(),
        1,
        "no safety backup left"
    );
    assert!(partial_backups(dir.path()).is_empty());
    assert_eq!(c.psql(&db, "SELECT count(*) FROM t").trim(), "100");
}
