//! Jobs that meet: restores in the same second, verifies of one backup at once.

mod common;

use common::{cluster, pgkeep, pgkeep_cmd, stderr};

#[test]
fn a_restore_whose_replaced_name_is_taken_still_succeeds() {
    let c = cluster();
    let db = c.new_db("samesec");
    c.psql(&db, "CREATE TABLE t AS SELECT 1 AS a");
    let dir = tempfile::tempdir().unwrap();
    assert!(pgkeep(&db, dir.path(), &["backup"]).status.success());
    // What a restore in the same second leaves: the replaced-db names of the next seconds.
    let now = chrono::Utc::now();
    for s in 0..20 {
        let t = now + chrono::Duration::seconds(s);
        let name = format!("{db}_pre_restore_{}", t.format("%Y%m%d%H%M%S"));
        c.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    }
    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "--yes", "--no-safety-backup", "latest"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let kept = c.psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE '{db}\\_pre\\_restore\\_%\\_2'"
        ),
    );
    assert_eq!(kept, "1");
    assert_eq!(c.psql(&db, "SELECT count(*) FROM t"), "1");
}

#[test]
fn three_verifies_of_one_backup_at_once_all_pass() {
    let c = cluster();
    let db = c.new_db("tripleverify");
    c.psql(
        &db,
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 2000) g",
    );
    let dir = tempfile::tempdir().unwrap();
    assert!(pgkeep(&db, dir.path(), &["backup"]).status.success());
    let kids: Vec<_> = (0..3)
        .map(|_| {
            pgkeep_cmd(&db, dir.path(), &["verify", "latest"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let tmp: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}
