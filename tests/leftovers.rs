//! No `.partial` or manifest temp file of a killed run stays for good: the next command that
//! writes into the backup directory removes them, never one that is being written now.

mod common;

use std::path::Path;

use common::{cluster, partial_backups, pgkeep, stderr, stdout};

fn plant_stale(dir: &Path, db: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let partial = dir.join(format!("{db}_2026-01-01T00-00-00Z.sql.gz.partial"));
    std::fs::write(&partial, b"half a safety backup").unwrap();
    let tmp = dir.join(format!(
        "{db}_2026-01-01T00-00-00Z.sql.gz.json.999999999-0.tmp"
    ));
    std::fs::write(&tmp, b"{").unwrap();
    (partial, tmp)
}

#[test]
fn restore_without_safety_backup_and_cleanup_remove_stale_leftovers() {
    let c = cluster();
    let db = c.new_db("stale");
    c.psql(&db, "CREATE TABLE t AS SELECT 1 AS a");
    let dir = tempfile::tempdir().unwrap();
    assert!(pgkeep(&db, dir.path(), &["backup"]).status.success());

    let (partial, tmp) = plant_stale(dir.path(), &db);
    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "--yes", "--no-safety-backup", "latest"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!partial.exists() && !tmp.exists());

    let (partial, tmp) = plant_stale(dir.path(), &db);
    let out = pgkeep(&db, dir.path(), &["cleanup", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed stale leftovers"),
        "{}",
        stdout(&out)
    );
    assert!(!partial.exists() && !tmp.exists());
    assert!(partial_backups(dir.path()).is_empty());
}
