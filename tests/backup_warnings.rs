//! What plain pg_dump loses is named in one backup warning line; what it keeps is not.

mod common;

use common::{cluster, complete_backups, pgkeep, stderr};

/// Backs `db` up (`backup ARGS…`) into a new folder; the backup must succeed. Returns the
/// folder and what pgkeep printed on stderr (its warnings).
fn backup_of(db: &str, args: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["backup"];
    all.extend_from_slice(args);
    let out = pgkeep(db, dir.path(), &all);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    (dir, stderr(&out))
}

/// The backup's manifest text.
fn manifest_of(dir: &std::path::Path) -> String {
    let backup = &complete_backups(dir)[0];
    std::fs::read_to_string(format!("{}.json", backup.display())).unwrap()
}

#[test]
fn an_extension_older_than_the_default_is_named_in_one_warning() {
    let c = cluster();
    let db = c.new_db("oldext");
    c.psql(&db, "CREATE EXTENSION hstore VERSION '1.4'");
    let default = c.psql(
        &db,
        "SELECT default_version FROM pg_available_extensions WHERE name = 'hstore'",
    );
    assert_ne!(
        default, "1.4",
        "hstore 1.4 must be older than the default here"
    );
    let (dir, err) = backup_of(&db, &[]);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("extension")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(&format!("hstore 1.4 (default {default})")),
        "{err}"
    );
    assert!(manifest_of(dir.path()).contains("hstore 1.4"));
    // What the warning says: the restored copy runs the default version.
    let copy = format!("{db}_copy");
    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--into", &copy],
    );
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    let restored = c.psql(
        &copy,
        "SELECT extversion FROM pg_extension WHERE extname = 'hstore'",
    );
    assert_eq!(restored, default);

    // Brought up to date, the warning is gone.
    c.psql(&db, "ALTER EXTENSION hstore UPDATE");
    let (_dir, err) = backup_of(&db, &[]);
    assert!(!err.contains("extension"), "{}", err);
}

#[test]
fn an_invalid_partitioned_index_is_kept_by_pg_dump_and_not_warned_about() {
    let c = cluster();
    let db = c.new_db("partidx");
    c.psql(
        &db,
        "CREATE TABLE p (a int) PARTITION BY RANGE (a);
         CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);
         CREATE INDEX p_a_idx ON ONLY p (a)",
    );
    let valid = c.psql(
        &db,
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'p_a_idx'::regclass",
    );
    assert_eq!(
        valid, "f",
        "an index ON ONLY a partitioned table starts invalid"
    );
    let (dir, err) = backup_of(&db, &[]);
    assert!(!err.contains("INVALID"), "{}", err);
    let dump = common::gunzip(&complete_backups(dir.path())[0]);
    assert!(String::from_utf8_lossy(&dump).contains("CREATE INDEX p_a_idx ON ONLY public.p"));
}

#[test]
fn a_table_wider_than_a_line_buffer_verifies() {
    let c = cluster();
    let db = c.new_db("wide");
    // 1,500 columns: the COPY header line is longer than the scanner keeps of a line.
    let cols: Vec<String> = (0..1500)
        .map(|i| format!("column_number_{i} bool"))
        .collect();
    c.psql(
        &db,
        &format!(
            "CREATE TABLE wide (first text, {}, last text); INSERT INTO wide (first, last) VALUES ('a', 'z'), ('b', 'y')",
            cols.join(", ")
        ),
    );
    let (dir, _err) = backup_of(&db, &["--quiet"]);
    let manifest: serde_json::Value = serde_json::from_str(&manifest_of(dir.path())).unwrap();
    let rows = manifest["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "public.wide")
        .map(|t| t["rows"].clone());
    assert_eq!(
        rows,
        Some(serde_json::json!(2)),
        "the manifest counts the rows"
    );
    let verify = pgkeep(&db, dir.path(), &["verify", "latest"]);
    assert!(
        verify.status.success(),
        "verify failed: {}",
        stderr(&verify)
    );
}

#[test]
fn a_child_table_whose_column_order_a_restore_changes_is_named() {
    let c = cluster();
    let db = c.new_db("colorder");
    c.psql(
        &db,
        "CREATE TABLE parent (a int);
         CREATE TABLE child (b int) INHERITS (parent);
         CREATE TABLE kept (k int) INHERITS (parent);
         ALTER TABLE parent ADD COLUMN c int;
         CREATE TABLE later (d int) INHERITS (parent)",
    );
    let order = |db: &str, t: &str| {
        c.psql(
            db,
            &format!("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attnum > 0"),
        )
    };
    assert_eq!(order(&db, "child"), "a,b,c");
    let (dir, err) = backup_of(&db, &[]);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("column")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("2 inheriting table(s)"), "{err}");
    assert!(lines[0].contains("public.child, public.kept;"), "{err}");
    assert!(manifest_of(dir.path()).contains("public.child, public.kept"));
    // What the warning says: the restored child has its columns in another order; the table
    // made after the parent changed keeps its order.
    let copy = format!("{db}_copy");
    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--into", &copy],
    );
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    assert_eq!(order(&copy, "child"), "a,c,b");
    assert_eq!(order(&copy, "later"), order(&db, "later"));
}
