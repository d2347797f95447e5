//! `pgkeep backup` against a real PostgreSQL server: the round trip, the manifest, file modes,
//! `--json` output, bad flags.

mod common;

use std::os::unix::fs::PermissionsExt;

use sha2::{Digest, Sha256};

use common::{cluster, complete_backups, gunzip, partial_backups, pgkeep, stderr, stdout};

/// A schema with the awkward parts: quoted names with spaces, unicode, NULLs, tabs and
/// backslashes in text, a large object, a sequence, a view, a function, an index.
const SCHEMA: &str = r#"
CREATE SCHEMA billing;
CREATE TABLE billing."Invoice Lines" (id serial PRIMARY KEY, "Note" text, amount numeric(12,2), at timestamptz);
INSERT INTO billing."Invoice Lines" ("Note", amount, at)
  SELECT CASE WHEN g % 7 = 0 THEN NULL ELSE 'line ' || g || E' tab\there back\\slash ünïcødé €' END,
         g * 1.25, '2026-01-01'::timestamptz + g * interval '1 hour'
    FROM generate_series(1, 5000) g;
CREATE TABLE public.customers (id int PRIMARY KEY, name text NOT NULL, doc bytea);
INSERT INTO public.customers SELECT g, 'customer ' || g, decode(md5(g::text), 'hex') FROM generate_series(1, 300) g;
CREATE TABLE public.empty_table (x int);
CREATE INDEX ON billing."Invoice Lines" (at);
CREATE VIEW billing.totals AS SELECT count(*) AS n, sum(amount) AS total FROM billing."Invoice Lines";
CREATE FUNCTION public.add(a int, b int) RETURNS int LANGUAGE sql AS 'SELECT a + b';
SELECT lo_from_bytea(0, 'a large object'::bytea);
"#;

#[test]
fn round_trip_restores_the_same_schema_and_data() {
    let c = cluster();
    let db = c.new_db("rt");
    c.psql(&db, SCHEMA);
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup", "--label", "round trip"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let files = complete_backups(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(stdout(&out).trim(), files[0].display().to_string());
    assert!(
        stderr(&out).is_empty(),
        "not silent off a terminal: {}",
        stderr(&out)
    );

    let sql = gunzip(&files[0]);
    let restored = c.new_db("rt_restored");
    c.load_sql(&restored, &sql);
    let original = c.dump_plain(&db);
    assert!(
        original.contains("line 4999 tab"),
        "the comparison must see the data"
    );
    assert_eq!(original, c.dump_plain(&restored));
    assert_eq!(
        c.psql(
            &restored,
            "SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata"
        ),
        "a large object"
    );
}

#[test]
fn manifest_describes_the_file_truthfully() {
    let c = cluster();
    let db = c.new_db("mf");
    c.psql(&db, SCHEMA);
    c.psql(&db, "ANALYZE");
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(
        &db,
        dir.path(),
        &[
            "--compression-level",
            "3",
            "backup",
            "--label",
            "before upgrade",
        ],
    );
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let file = &complete_backups(dir.path())[0];
    let bytes = std::fs::read(file).unwrap();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", file.display())).unwrap())
            .unwrap();

    assert_eq!(m["format_version"], 1);
    assert_eq!(m["database"], db.as_str());
    assert_eq!(m["sha256"], hex::encode(Sha256::digest(&bytes)).as_str());
    assert_eq!(m["compressed_bytes"], bytes.len() as u64);
    assert_eq!(m["raw_bytes"], gunzip(file).len() as u64);
    assert_eq!(m["compression_level"], 3);
    assert_eq!(m["label"], "before upgrade");
    assert_eq!(m["pgkeep_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["target"], "direct");
    let server = c.psql(&db, "SHOW server_version");
    assert_eq!(m["server_version"], server.as_str());
    let major = server.split('.').next().unwrap();
    assert!(
        m["pg_dump_version"].as_str().unwrap().starts_with(major),
        "{}",
        m["pg_dump_version"]
    );
    let started: chrono::DateTime<chrono::Utc> = m["started_at"].as_str().unwrap().parse().unwrap();
    let finished: chrono::DateTime<chrono::Utc> =
        m["finished_at"].as_str().unwrap().parse().unwrap();
    assert!(started <= finished);
    let name_time = started.format("%Y-%m-%dT%H-%M-%SZ").to_string();
    assert!(
        file.to_string_lossy()
            .ends_with(&format!("{db}_{name_time}.sql.gz")),
        "{}",
        file.display()
    );

    let tables = m["tables"].as_array().unwrap();
    let rows = |name: &str| {
        let t = tables
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {tables:?}"));
        (t["rows"].as_u64(), t["estimated_rows"].as_i64().unwrap())
    };
    assert_eq!(rows("billing.\"Invoice Lines\""), (Some(5000), 5000));
    assert_eq!(rows("public.customers"), (Some(300), 300));
    assert_eq!(rows("public.empty_table").0, Some(0));
}

#[test]
fn new_backup_dir_is_private_and_files_are_0600() {
    let c = cluster();
    let db = c.new_db("modes");
    c.psql(
        &db,
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g",
    );
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("nested").join("db_backups");
    let out = pgkeep(&db, &dir, &["backup"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // 0711: the database server may pass through to wal/ (its own); nobody else lists or writes.
    assert_eq!(mode(&dir), 0o711);
    let file = &complete_backups(&dir)[0];
    assert_eq!(mode(file), 0o600);
    assert_eq!(
        mode(std::path::Path::new(&format!("{}.json", file.display()))),
        0o600
    );
    assert!(partial_backups(&dir).is_empty());
}

#[test]
fn json_output_is_one_object_naming_the_file() {
    let c = cluster();
    let db = c.new_db("json");
    c.psql(
        &db,
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 10) g",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup", "--json"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let file = &complete_backups(dir.path())[0];
    assert_eq!(v["file"], file.display().to_string().as_str());
    assert_eq!(v["manifest"]["database"], db.as_str());
    assert!(!text.contains(&c.password));
}

#[test]
fn bad_flags_exit_2_with_usage() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["backup", "--bogus"][..],
        &["list", "--nope"],
        &["--compression-level", "12", "backup"],
    ] {
        let out = pgkeep("postgres", dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("error:"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert!(complete_backups(dir.path()).is_empty());
}
