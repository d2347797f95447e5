//! `pgkeep list`: finished, interrupted and old-script backups, newest first; UTC in JSON,
//! local time in text.

mod common;

use std::process::Command;

use chrono::{DateTime, Local, TimeZone, Utc};

use common::{cluster, complete_backups, pgkeep, pgkeep_cmd, stderr, stdout};

fn list_json(db: &str, dir: &std::path::Path) -> Vec<serde_json::Value> {
    let out = pgkeep(db, dir, &["list", "--json"]);
    assert!(out.status.success(), "list failed: {}", stderr(&out));
    serde_json::from_str::<serde_json::Value>(&stdout(&out))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn lists_complete_interrupted_and_old_script_backups_newest_first() {
    let c = cluster();
    let db = c.new_db("ls");
    c.psql(
        &db,
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 10) g",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup", "--label", "nightly"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let name = complete_backups(dir.path())[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();

    // An interrupted backup (newer), an old-script dump with its time in the name (local
    // time), and one whose only time is its mtime.
    std::fs::write(
        dir.path().join("other_2099-01-01T00-00-00Z.sql.gz.partial"),
        b"\x1f\x8b",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("facturatie_backup_20240102_030405.sql.gz"),
        b"\x1f\x8b",
    )
    .unwrap();
    let untimed = dir.path().join("manual.sql.gz");
    std::fs::write(&untimed, b"\x1f\x8b").unwrap();
    let st = Command::new("touch")
        .args(["-d", "2023-05-06 07:08:09 UTC"])
        .arg(&untimed)
        .status()
        .unwrap();
    assert!(st.success());

    let list = list_json(&db, dir.path());
    let names: Vec<&str> = list.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "other_2099-01-01T00-00-00Z.sql.gz.partial",
            name.as_str(),
            "facturatie_backup_20240102_030405.sql.gz",
            "manual.sql.gz"
        ]
    );
    assert_eq!(list[0]["status"]["state"], "interrupted");
    assert_eq!(list[1]["status"]["state"], "complete");
    assert_eq!(list[1]["label"], "nightly");
    assert_eq!(list[1]["database"], db.as_str());
    assert_eq!(list[2]["status"]["state"], "no-manifest");
    assert_eq!(list[2]["database"], "facturatie");
    let old_time: DateTime<Utc> = list[2]["time"].as_str().unwrap().parse().unwrap();
    let expected = Local
        .with_ymd_and_hms(2024, 1, 2, 3, 4, 5)
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(old_time, expected);
    assert_eq!(list[3]["time"], "2023-05-06T07:08:09Z");
    for e in &list {
        assert!(
            e["time"].as_str().unwrap().ends_with('Z'),
            "JSON times are UTC: {e}"
        );
    }
}

#[test]
fn text_list_shows_local_times() {
    let c = cluster();
    let db = c.new_db("lstz");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(
        dir.path().join("shop_2026-03-04T10-20-30Z.sql.gz"),
        b"\x1f\x8b",
    )
    .unwrap();
    let out = pgkeep_cmd(&db, dir.path(), &["list"])
        .env("TZ", "Asia/Kolkata")
        .output()
        .unwrap();
    assert!(out.status.success(), "list failed: {}", stderr(&out));
    let text = stdout(&out);
    // 10:20:30 UTC is 15:50:30 in India (UTC+05:30).
    assert!(text.contains("2026-03-04 15:50:30"), "{text}");
    assert!(text.contains("shop_2026-03-04T10-20-30Z.sql.gz"), "{text}");
    assert!(text.contains("no manifest"), "{text}");

    let empty = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, &empty.path().join("none"), &["list"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("no backups"), "{}", stdout(&out));
}
