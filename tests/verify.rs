//! `pgkeep verify` against a real server: a good backup verifies and `list` says so; a
//! backup whose manifest row counts do not match the test restore fails, and that is
//! recorded too; `verify all`; no scratch database is left behind.

mod common;
mod restore_support;

use std::path::Path;

use common::{cluster, complete_backups, pgkeep, stderr, stdout};
use restore_support::{backup, databases_like, invoicing_db};

fn manifest(file: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(format!("{}.json", file.display())).unwrap()).unwrap()
}

#[test]
fn good_backup_verifies_and_list_shows_it() {
    let db = invoicing_db("ver");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let out = pgkeep(&db, dir.path(), &["verify", "latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("rows match the manifest"),
        "{}",
        stdout(&out)
    );
    let file = complete_backups(dir.path()).pop().unwrap();
    let v = &manifest(&file)["verification"];
    assert_eq!(v["ok"], true, "{v}");
    let list = stdout(&pgkeep(&db, dir.path(), &["list"]));
    assert!(list.contains("verified"), "{list}");
    assert_eq!(
        databases_like(&db),
        vec![db.clone()],
        "scratch database left behind"
    );
}

#[test]
fn row_count_mismatch_fails_and_is_recorded() {
    let c = cluster();
    let db = c.new_db("vermis");
    c.psql(
        &db,
        "CREATE TABLE \"Orders\" (id int); INSERT INTO \"Orders\" SELECT generate_series(1, 50)",
    );
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let good = complete_backups(dir.path()).pop().unwrap();
    // A second, tampered copy: the manifest claims one row more than the dump holds.
    let bad = dir.path().join(format!("{db}_2020-01-01T00-00-00Z.sql.gz"));
    std::fs::copy(&good, &bad).unwrap();
    let mut m = manifest(&good);
    let tables = m["tables"].as_array_mut().unwrap();
    let t = tables
        .iter_mut()
        .find(|t| t["name"] == "public.\"Orders\"")
        .expect("table in manifest");
    assert_eq!(t["rows"], 50);
    t["rows"] = 51.into();
    std::fs::write(
        format!("{}.json", bad.display()),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();

    let out = pgkeep(
        &db,
        dir.path(),
        &["verify", bad.file_name().unwrap().to_str().unwrap()],
    );
    assert!(!out.status.success());
    let first = stderr(&out).lines().next().unwrap_or_default().to_string();
    assert!(
        first.contains("public.\"Orders\" has 50 rows, the manifest says 51"),
        "{first}"
    );
    let v = &manifest(&bad)["verification"];
    assert_eq!(v["ok"], false, "{v}");
    let list = stdout(&pgkeep(&db, dir.path(), &["list"]));
    assert!(list.contains("FAILED verify"), "{list}");

    let out = pgkeep(&db, dir.path(), &["verify", "all"]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "ok {}",
            good.file_name().unwrap().to_str().unwrap()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "FAILED {}",
            bad.file_name().unwrap().to_str().unwrap()
        )),
        "{text}"
    );
    assert_eq!(
        databases_like(&db),
        vec![db.clone()],
        "scratch database left behind"
    );
}
