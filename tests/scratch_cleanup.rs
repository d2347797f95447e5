//! An abandoned scratch database is dropped by `cleanup` even while a background process
//! (autovacuum; here a walsender, which is as deterministic to hold as a session) works in it.

mod common;

use std::process::Stdio;

use common::{cluster, pgkeep, stderr, stdout};

#[test]
fn cleanup_drops_an_abandoned_scratch_database_with_a_background_worker_in_it() {
    let c = cluster();
    let db = c.new_db("scr");
    let scratch = format!("{db}_pgkeep_scratch_3999999_0");
    c.psql("postgres", &format!("CREATE DATABASE \"{scratch}\""));
    let mut worker = c
        .client_cmd("psql")
        .args([
            "-X",
            "-q",
            &format!("dbname={scratch} replication=database"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = c.wait_for(
        "postgres",
        &format!(
            "SELECT backend_type FROM pg_stat_activity WHERE datname = '{scratch}' AND backend_type <> 'client backend'"
        ),
        20,
    );
    if seen.is_none() {
        let _ = worker.kill();
        let _ = worker.wait();
        eprintln!("note: no walsender could connect (pg_hba): test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["cleanup", "--yes"]);
    let _ = worker.kill();
    let _ = worker.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("dropped {scratch}")),
        "{}",
        stdout(&out)
    );
    assert!(!c.db_exists(&scratch));
}
