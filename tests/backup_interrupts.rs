//! Backups interrupted from outside: the server terminating pg_dump's backend mid-COPY,
//! SIGKILL of pgkeep mid-backup, a second backup while one runs; and the password never on a
//! command line while a backup runs.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use common::{cluster, complete_backups, partial_backups, pgkeep, pgkeep_cmd, stderr, stdout};

/// A pgbench database (scale 10, ~1M rows) shared by the tests that need a dump long enough
/// to interrupt.
fn big_db() -> &'static str {
    static DB: OnceLock<String> = OnceLock::new();
    DB.get_or_init(|| {
        let c = cluster();
        let db = c.new_db("big");
        c.pgbench_init(&db, 10);
        db
    })
}

/// Starts `pgkeep backup` in the background.
fn spawn_backup(db: &str, dir: &Path) -> Child {
    pgkeep_cmd(db, dir, &["backup"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the pg_dump started by pgkeep process `pid` is running a COPY; returns the
/// backend's pid.
fn wait_for_copy(pid: u32) -> String {
    cluster()
        .wait_for(
            "postgres",
            &format!(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'pgkeep-backup-{pid}-%' \
                 AND query ILIKE 'COPY public.pgbench_accounts%' LIMIT 1"
            ),
            60,
        )
        .expect("pg_dump never started copying pgbench_accounts")
}

#[test]
fn terminated_backend_fails_and_leaves_nothing() {
    let c = cluster();
    let db = big_db();
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_backup(db, dir.path());
    let backend = wait_for_copy(child.id());
    assert_eq!(
        c.psql(
            "postgres",
            &format!("SELECT pg_terminate_backend({backend})")
        ),
        "t"
    );
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("pg_dump failed"), "{err}");
    assert!(
        err.contains("terminating connection") || err.contains("server closed the connection"),
        "{err}"
    );
    assert!(err.contains("no backup was written"), "{err}");
    assert!(stdout(&out).is_empty());
    assert!(
        complete_backups(dir.path()).is_empty(),
        "{:?}",
        complete_backups(dir.path())
    );
    assert!(
        partial_backups(dir.path()).is_empty(),
        "{:?}",
        partial_backups(dir.path())
    );
}

#[test]
fn sigkill_leaves_an_interrupted_partial_that_the_next_backup_removes() {
    let db = big_db();
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_backup(db, dir.path());
    wait_for_copy(child.id());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();

    assert!(
        complete_backups(dir.path()).is_empty(),
        "{:?}",
        complete_backups(dir.path())
    );
    let partials = partial_backups(dir.path());
    assert_eq!(partials.len(), 1, "{partials:?}");
    let out = pgkeep(db, dir.path(), &["list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list[0]["status"]["state"], "interrupted", "{list}");
    let out = pgkeep(db, dir.path(), &["list"]);
    assert!(stdout(&out).contains("interrupted"), "{}", stdout(&out));

    // The lock died with the process: the next backup takes it, succeeds, and cleans up.
    let out = pgkeep(db, dir.path(), &["backup"]);
    assert!(
        out.status.success(),
        "backup after SIGKILL failed: {}",
        stderr(&out)
    );
    assert_eq!(complete_backups(dir.path()).len(), 1);
    assert!(
        partial_backups(dir.path()).is_empty(),
        "{:?}",
        partial_backups(dir.path())
    );
}

/// A database whose table `t` is locked by a psql session, so a backup of it blocks in
/// pg_dump (waiting for its ACCESS SHARE lock) until the session ends.
struct Blocked {
    db: String,
    locker: Child,
}

impl Blocked {
    fn new(prefix: &str) -> Blocked {
        let c = cluster();
        let db = c.new_db(prefix);
        c.psql(
            &db,
            "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
        );
        let locker = c
            .client_cmd("psql")
            .args(["-X", "-q", "-d", &db, "-c"])
            .arg("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);")
            .env("PGAPPNAME", format!("locker-{db}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        c.wait_for(
            &db,
            &format!("SELECT 1 FROM pg_stat_activity WHERE application_name = 'locker-{db}' AND query LIKE '%pg_sleep%'"),
            30,
        )
        .expect("the locking session never started");
        Blocked { db, locker }
    }

    /// Waits until pgkeep process `pid`'s pg_dump waits for the lock.
    fn wait_until_blocked(&self, pid: u32) {
        cluster()
            .wait_for(
                "postgres",
                &format!(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'pgkeep-backup-{pid}-%' AND wait_event_type = 'Lock'"
                ),
                60,
            )
            .expect("pg_dump never waited for the lock");
    }

    /// Ends the locking session, letting the backup finish.
    fn release(&mut self) {
        let c = cluster();
        c.psql(
            "postgres",
            &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'locker-{}'", self.db),
        );
        let _ = self.locker.wait();
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let _ = self.locker.kill();
        let _ = self.locker.wait();
    }
}

#[test]
fn second_backup_while_one_runs_exits_at_once_naming_the_pid() {
    let mut blocked = Blocked::new("lock");
    let dir = tempfile::tempdir().unwrap();
    let first = spawn_backup(&blocked.db, dir.path());
    blocked.wait_until_blocked(first.id());

    let out = pgkeep(&blocked.db, dir.path(), &["backup"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("another backup"), "{err}");
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");

    blocked.release();
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the first backup failed: {}",
        stderr(&out)
    );
    assert_eq!(complete_backups(dir.path()).len(), 1);
}

#[test]
fn password_is_never_on_a_command_line() {
    let c = cluster();
    let mut blocked = Blocked::new("cmdline");
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_backup(&blocked.db, dir.path());
    blocked.wait_until_blocked(child.id());

    // pg_dump is alive (blocked): scan every process's command line many times.
    let mut saw_pg_dump = false;
    for _ in 0..50 {
        for ent in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(raw) = std::fs::read(ent.path().join("cmdline")) else {
                continue;
            };
            let line = String::from_utf8_lossy(&raw).replace('\0', " ");
            assert!(
                !line.contains(&c.password),
                "password on the command line of {:?}: {line}",
                ent.path()
            );
            if line.contains("pg_dump") && line.contains("--no-password") {
                saw_pg_dump = true;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        saw_pg_dump,
        "pg_dump was never seen running; the scan proved nothing"
    );

    blocked.release();
    let status = child.wait().unwrap();
    assert!(status.success());
    // And not in the output files either (the manifest holds no connection string).
    for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let text = String::from_utf8_lossy(&std::fs::read(f.path()).unwrap()).into_owned();
        assert!(!text.contains(&c.password), "password in {:?}", f.path());
    }
}

#[test]
fn pg_dump_killed_by_a_signal_leaves_nothing_complete() {
    let db = big_db();
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_backup(db, dir.path());
    wait_for_copy(child.id());
    // Kill pgkeep's pg_dump child (found by its parent pid).
    let pgkeep_pid = child.id().to_string();
    let out = Command::new("pkill")
        .args(["-KILL", "-P", &pgkeep_pid, "-x", "pg_dump"])
        .status()
        .unwrap();
    assert!(out.success(), "no pg_dump child found");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("pg_dump failed") && err.contains("signal"),
        "{err}"
    );
    assert!(complete_backups(dir.path()).is_empty());
    assert!(partial_backups(dir.path()).is_empty());
}

#[test]
fn sigterm_cancels_cleanly() {
    let db = big_db();
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_backup(db, dir.path());
    wait_for_copy(child.id());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim(), "pgkeep: error: cancelled; nothing was changed");
    assert!(complete_backups(dir.path()).is_empty());
    assert!(partial_backups(dir.path()).is_empty());
}
