//! A damaged manifest is damage, not absence; `latest` never falls back silently; verify
//! proves content against the manifest's table list; a dump without data is not a backup.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{cluster, complete_backups, pgkeep, pgkeep_cmd, stderr, stdout};

fn manifest_path(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}.json", p.display()))
}

fn two_backups(db: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let c = cluster();
    c.psql(
        db,
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 10) g",
    );
    assert!(pgkeep(db, dir, &["backup"]).status.success());
    c.psql(db, "INSERT INTO t SELECT g FROM generate_series(11, 30) g");
    let out = pgkeep(db, dir, &["backup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files = complete_backups(dir);
    assert_eq!(files.len(), 2);
    (files[0].clone(), files[1].clone())
}

#[test]
fn an_older_backup_copied_over_the_newest_with_a_damaged_manifest_is_refused() {
    let c = cluster();
    let db = c.new_db("dmg");
    let dir = tempfile::tempdir().unwrap();
    let (older, newest) = two_backups(&db, dir.path());
    std::fs::copy(&older, &newest).unwrap();
    let newest_name = newest.file_name().unwrap().to_string_lossy().into_owned();
    for bad in [
        "{\"format_version\": 1, \"datab",
        "garbage",
        "{}",
        "{\"sha256\": 5}",
    ] {
        std::fs::write(manifest_path(&newest), bad).unwrap();
        let list = stdout(&pgkeep(&db, dir.path(), &["list"]));
        let line = list.lines().find(|l| l.contains(&newest_name)).unwrap();
        assert!(line.contains("damaged manifest"), "{list}");

        let out = pgkeep(&db, dir.path(), &["restore", "--yes", "latest"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains(&newest_name) && err.contains("damaged"),
            "{err}"
        );
        assert!(err.contains("silently"), "{err}");

        let out = pgkeep(&db, dir.path(), &["restore", "--yes", &newest_name]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains("--accept-unchecked"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");

        let out = pgkeep(&db, dir.path(), &["verify", &newest_name]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("--accept-unchecked"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            c.psql(&db, "SELECT count(*) FROM t"),
            "30",
            "live db untouched"
        );
    }
    let status = stdout(&pgkeep(&db, dir.path(), &["status", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    let health = v["health"].to_string();
    assert!(
        health.contains(&newest_name) && health.contains("damaged manifest"),
        "{health}"
    );

    let out = pgkeep(
        &db,
        dir.path(),
        &["verify", "--accept-unchecked", &newest_name],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("WITHOUT a checksum"),
        "{}",
        stderr(&out)
    );
    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "--yes", "--accept-unchecked", &newest_name],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("WITHOUT a checksum"),
        "{}",
        stderr(&out)
    );
    assert_eq!(c.psql(&db, "SELECT count(*) FROM t"), "10");
}

#[test]
fn restore_latest_skips_safety_backups_and_names_what_it_used() {
    let c = cluster();
    let db = c.new_db("latest");
    let dir = tempfile::tempdir().unwrap();
    let (_older, newest) = two_backups(&db, dir.path());
    c.psql(&db, "INSERT INTO t VALUES (99)");
    let out = pgkeep(&db, dir.path(), &["restore", "--yes", "latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(c.psql(&db, "SELECT count(*) FROM t"), "30");
    // The safety backup (31 rows) is now the newest file; `latest` is still the 30-row one.
    let out = pgkeep(&db, dir.path(), &["restore", "--yes", "latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(newest.file_name().unwrap().to_str().unwrap()));
    assert_eq!(c.psql(&db, "SELECT count(*) FROM t"), "30");
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const TRAILER: &str = "--\n-- PostgreSQL database dump complete\n--\n\n";

#[test]
fn verify_fails_a_dump_that_holds_none_of_the_manifests_tables() {
    use sha2::Digest;
    let c = cluster();
    let db = c.new_db("vcontent");
    for t in ["a", "b", "c", "d"] {
        c.psql(&db, &format!("CREATE TABLE {t} AS SELECT 1 AS x"));
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(pgkeep(&db, dir.path(), &["backup"]).status.success());
    let file = complete_backups(dir.path()).remove(0);
    let bytes = gz(TRAILER.as_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest_path(&file)).unwrap()).unwrap();
    m["sha256"] = hex::encode(sha2::Sha256::digest(&bytes)).into();
    m["compressed_bytes"] = bytes.len().into();
    for t in m["tables"].as_array_mut().unwrap() {
        t["rows"] = serde_json::Value::Null;
    }
    std::fs::write(manifest_path(&file), serde_json::to_vec(&m).unwrap()).unwrap();
    let out = pgkeep(&db, dir.path(), &["verify", "latest"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(err.contains("public.a") && err.contains("no data"), "{err}");
}

#[test]
fn a_pg_dump_that_prints_only_its_trailer_is_not_a_backup() {
    let c = cluster();
    let db = c.new_db("trailer");
    c.psql(
        &db,
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 500) g; ANALYZE t",
    );
    let dir = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let real = common::pg_bin().join("pg_dump");
    let fake = bin.path().join("pg_dump");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ncase \"$*\" in *--version*) exec {} --version;; esac\nprintf -- '{}'\n",
            real.display(),
            TRAILER.replace('\n', "\\n")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = pgkeep_cmd(&db, dir.path(), &["backup"])
        .env("PATH", path)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(err.contains("copied no table data"), "{err}");
    assert!(complete_backups(dir.path()).is_empty());
}
