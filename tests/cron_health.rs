//! Doctor reads the last scheduled run's outcome (recorded by `backup --scheduled`).

mod common;

use common::{cluster, pgkeep, stdout};
use serde_json::Value;

fn last_run_check(db: &str, dir: &std::path::Path) -> Value {
    let out = pgkeep(db, dir, &["doctor", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("doctor --json");
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "last scheduled run")
        .cloned()
        .unwrap_or_else(|| panic!("no last scheduled run check: {v}"))
}

#[test]
fn doctor_shows_whether_the_last_scheduled_run_failed() {
    let c = cluster();
    let db = c.new_db("lastrun");
    c.psql(&db, "CREATE TABLE t AS SELECT 1 AS a");
    let dir = tempfile::tempdir().unwrap();
    let gone = format!("{db}_missing");
    let out = pgkeep(&gone, dir.path(), &["backup", "--scheduled"]);
    assert!(!out.status.success());
    let check = last_run_check(&db, dir.path());
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("FAILED"),
        "{check}"
    );
    assert!(
        check["fix"].as_str().unwrap().contains("pgkeep-cron.log"),
        "{check}"
    );

    let out = pgkeep(&db, dir.path(), &["backup", "--scheduled"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(last_run_check(&db, dir.path())["ok"], true);
}
