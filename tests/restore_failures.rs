//! Restores that must fail without changing anything: a flipped byte, a truncated file, an
//! SQL error in the middle of the dump, pgkeep killed with SIGKILL during the load.

mod common;
mod restore_support;

use std::path::{Path, PathBuf};

use common::{cluster, complete_backups, pgkeep, stderr};
use restore_support::{backup, databases_like, gunzip, gzip_to, pgkeep_cmd, wait_for};

/// A small database with a backup in `dir`, changed after the backup; returns its name.
fn changed_after_backup(prefix: &str, dir: &Path) -> (String, PathBuf) {
    let c = cluster();
    let db = c.new_db(prefix);
    c.psql(&db, "CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 1000) g");
    backup(&db, dir);
    c.psql(&db, "UPDATE t SET note = 'after the backup' WHERE id <= 10");
    let good = complete_backups(dir).pop().unwrap();
    (db, good)
}

/// Runs a restore that must fail; checks the live database and the server are unchanged.
fn assert_refused(db: &str, dir: &Path, file: &Path, expect: &str) {
    assert_refused_with(db, dir, file, expect, false)
}

/// Like [`assert_refused`]; with `safety` the restore also takes its safety backup, beside
/// which the file is checked.
fn assert_refused_with(db: &str, dir: &Path, file: &Path, expect: &str, safety: bool) {
    let c = cluster();
    let before = c.dump_create(db);
    let mut args = vec!["restore", file.to_str().unwrap(), "--yes"];
    if !safety {
        args.push("--no-safety-backup");
    }
    let out = pgkeep(db, dir, &args);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "restore of {} succeeded",
        file.display()
    );
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("pgkeep: error:") && first.contains(expect),
        "{err}"
    );
    assert_eq!(c.dump_create(db), before, "the live database changed");
    assert_eq!(
        databases_like(db),
        vec![db.to_string()],
        "a database was left behind"
    );
}

#[test]
fn flipped_byte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (db, good) = changed_after_backup("flip", dir.path());
    let bad = dir.path().join(format!("{db}_2020-01-01T00-00-00Z.sql.gz"));
    let mut bytes = std::fs::read(&good).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&bad, &bytes).unwrap();
    std::fs::copy(
        format!("{}.json", good.display()),
        format!("{}.json", bad.display()),
    )
    .unwrap();
    assert_refused(&db, dir.path(), &bad, "sha256");
    // With the safety backup on, the check runs beside it and still refuses.
    assert_refused_with(&db, dir.path(), &bad, "sha256", true);
    // Without the manifest the gzip CRC still catches it.
    std::fs::remove_file(format!("{}.json", bad.display())).unwrap();
    assert_refused(&db, dir.path(), &bad, "damaged");
}

#[test]
fn truncated_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (db, good) = changed_after_backup("trunc", dir.path());
    let bad = dir.path().join(format!("{db}_2020-01-02T00-00-00Z.sql.gz"));
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() * 2 / 3]).unwrap();
    assert_refused(&db, dir.path(), &bad, "truncated");
    // A well-formed gzip of a dump cut short: no completion trailer.
    let sql = gunzip(&good);
    gzip_to(&bad, &sql[..sql.len() / 2]);
    assert_refused(&db, dir.path(), &bad, "incomplete");
}

#[test]
fn sql_error_in_the_middle_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, good) = changed_after_backup("sqlerr", dir.path());
    let sql = gunzip(&good);
    // Insert a failing statement before the statement that follows the data.
    let at = sql.find("\n\\.\n").expect("COPY data") + 4;
    let broken = format!(
        "{}SELECT * FROM no_such_table_here;\n{}",
        &sql[..at],
        &sql[at..]
    );
    let bad = dir.path().join(format!("{db}_2020-01-03T00-00-00Z.sql.gz"));
    gzip_to(&bad, &broken);
    assert_refused(&db, dir.path(), &bad, "no_such_table_here");
}

#[test]
fn sigkill_during_the_load_leaves_the_live_database_and_the_next_run_cleans_up() {
    let c = cluster();
    let db = c.new_db("kill");
    c.pgbench_init(&db, 3);
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    c.psql(
        &db,
        "UPDATE pgbench_branches SET filler = 'after the backup'",
    );
    let before = c.dump_create(&db);

    let mut child = pgkeep_cmd(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--no-safety-backup"],
    )
    .spawn()
    .unwrap();
    let app = format!("pgkeep-restore-{}", child.id());
    let loading = wait_for(60, || {
        c.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' AND state = 'active'"),
        ) != "0"
    });
    assert!(loading, "the restore never started loading");
    // Freeze the loading backend so the restore cannot finish before the kill, however fast
    // the machine; thaw it once pgkeep is dead.
    let backend: i32 = c
        .psql(
            "postgres",
            &format!("SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE application_name = '{app}'"),
        )
        .parse()
        .unwrap();
    let frozen = backend > 0
        && nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(backend),
            nix::sys::signal::SIGSTOP,
        )
        .is_ok();
    child.kill().unwrap();
    let status = child.wait().unwrap();
    if frozen {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(backend),
            nix::sys::signal::SIGCONT,
        )
        .unwrap();
    }
    assert!(
        !status.success(),
        "the restore finished before it was killed"
    );

    assert_eq!(c.dump_create(&db), before, "the live database changed");
    let scratch = format!("{db}_pgkeep_scratch_{}_", child.id());
    assert!(
        wait_for(60, || c.psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE starts_with(datname, '{scratch}')"
            )
        ) == "0"),
        "the killed restore's psql never ended"
    );

    // The next run drops the abandoned scratch database and restores.
    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--no-safety-backup"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let left = databases_like(&db);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left.iter().all(|n| !n.contains("_pgkeep_scratch_")),
        "{left:?}"
    );
    assert_eq!(
        c.psql(
            &db,
            "SELECT count(*) FROM pgbench_branches WHERE filler = 'after the backup'"
        ),
        "0"
    );
}

#[test]
fn ctrl_c_during_the_load_cancels_and_drops_the_scratch_database() {
    let c = cluster();
    let db = c.new_db("sigint");
    c.pgbench_init(&db, 3);
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    c.psql(
        &db,
        "UPDATE pgbench_branches SET filler = 'after the backup'",
    );
    let before = c.dump_create(&db);

    let child = pgkeep_cmd(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--no-safety-backup"],
    )
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let app = format!("pgkeep-restore-{}", child.id());
    let loading = wait_for(60, || {
        c.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' AND state = 'active'"),
        ) != "0"
    });
    assert!(loading, "the restore never started loading");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the restore finished before it was interrupted"
    );
    assert!(stderr(&out).contains("cancelled"), "{}", stderr(&out));
    // pgkeep itself dropped its scratch database: nothing is left, nothing changed.
    assert_eq!(databases_like(&db), vec![db.clone()]);
    assert_eq!(c.dump_create(&db), before, "the live database changed");
}
