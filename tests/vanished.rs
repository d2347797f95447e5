//! Vanished data is an alarm: after the database was emptied (as `docker compose down -v` and
//! `up -d` do), `status` and `doctor` compare it with the newest backup's manifest and turn
//! red with the fix `pgkeep restore latest`; a safety backup of the empty database does not
//! count as the last backup.

mod common;

use std::path::Path;

use common::{cluster, pgkeep, stderr, stdout};
use serde_json::Value;

fn live_data_check(db: &str, dir: &Path) -> Value {
    let out = pgkeep(db, dir, &["doctor", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("doctor --json");
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "live data")
        .cloned()
        .unwrap_or_else(|| panic!("no live data check: {v}"))
}

fn health(db: &str, dir: &Path) -> String {
    let out = pgkeep(db, dir, &["status", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("status --json");
    v["health"].to_string()
}

fn status_last_backup(db: &str, dir: &Path) -> Value {
    let out = pgkeep(db, dir, &["status", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("status --json");
    v["last_backup_at"].clone()
}

#[test]
fn an_emptied_database_turns_status_and_doctor_red_until_restored() {
    let c = cluster();
    let db = c.new_db("vanish");
    c.psql(
        &db,
        "CREATE TABLE invoice AS SELECT g AS id FROM generate_series(1, 3000) g;
         CREATE TABLE line AS SELECT g AS id FROM generate_series(1, 2000) g; ANALYZE",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let last_before = status_last_backup(&db, dir.path());
    assert_eq!(live_data_check(&db, dir.path())["ok"], true);
    assert!(!health(&db, dir.path()).contains("DATA MAY BE LOST"));

    // The volume was recreated: same database name, nothing in it.
    c.psql(&db, "DROP TABLE invoice; DROP TABLE line");
    let check = live_data_check(&db, dir.path());
    assert_eq!(check["ok"], false, "{check}");
    assert_eq!(check["fix"], "pgkeep restore latest");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("2 of the 2 tables"),
        "{check}"
    );
    let h = health(&db, dir.path());
    assert!(
        h.contains("DATA MAY BE LOST") && h.contains("pgkeep restore latest"),
        "{h}"
    );

    // Rows gone, tables there: exact counts confirm it.
    c.psql(
        &db,
        "CREATE TABLE invoice (id int); CREATE TABLE line (id int)",
    );
    let check = live_data_check(&db, dir.path());
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("most rows"),
        "{check}"
    );

    // The restore's safety backup (of the empty database) is not "the last backup".
    let out = pgkeep(&db, dir.path(), &["restore", "--yes", "latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(live_data_check(&db, dir.path())["ok"], true);
    assert_eq!(
        status_last_backup(&db, dir.path()),
        last_before,
        "the empty safety backup does not count"
    );
    let out = pgkeep(&db, dir.path(), &["restore", "--yes", "latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(c.psql(&db, "SELECT count(*) FROM invoice"), "3000");
}
