//! Restore round trips against a real server: the rich invoicing schema restored over a
//! changed live database reads the same in `pg_dump --create`; `--into`; consent.

mod common;

use std::path::Path;

use common::{cluster, complete_backups, pgkeep, stderr, stdout};

/// Creates the role the fixture grants to (once per cluster).
fn ensure_clerk_role() {
    cluster().psql(
        "postgres",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgkeep_clerk') THEN CREATE ROLE pgkeep_clerk; END IF; END $$",
    );
}

/// A database holding the invoicing fixture plus database-level settings, comment, grants.
fn invoicing_db(prefix: &str) -> String {
    ensure_clerk_role();
    let c = cluster();
    let db = c.new_db(prefix);
    c.psql(&db, include_str!("fixtures/invoicing.sql"));
    c.psql(
        "postgres",
        &format!(
            "ALTER DATABASE \"{db}\" SET work_mem = '16MB';
             ALTER DATABASE \"{db}\" SET search_path = billing, \"CRM\", public;
             ALTER ROLE pgkeep_clerk IN DATABASE \"{db}\" SET statement_timeout = '5s';
             COMMENT ON DATABASE \"{db}\" IS 'Facturatie: invoices ''24';
             GRANT CONNECT, TEMPORARY ON DATABASE \"{db}\" TO pgkeep_clerk;
             REVOKE TEMPORARY ON DATABASE \"{db}\" FROM PUBLIC;
             ALTER DATABASE \"{db}\" CONNECTION LIMIT 50;"
        ),
    );
    db
}

fn databases_like(prefix: &str) -> Vec<String> {
    let out = cluster().psql(
        "postgres",
        &format!("SELECT datname FROM pg_database WHERE starts_with(datname, '{prefix}') ORDER BY 1"),
    );
    out.lines().map(str::to_string).collect()
}

fn plain_dump(db: &str) -> String {
    let out = cluster().client_cmd("pg_dump").args(["-d", db]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Equal texts, or a panic naming the first line that differs (dumps are long).
fn assert_same(got: &str, want: &str) {
    if got == want {
        return;
    }
    let (g, w): (Vec<_>, Vec<_>) = (got.lines().collect(), want.lines().collect());
    let i = g.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(g.len().min(w.len()));
    panic!(
        "dumps differ at line {}:\n  got:  {:?}\n  want: {:?}",
        i + 1,
        g.get(i),
        w.get(i)
    );
}

fn backup(db: &str, dir: &Path) {
    let out = pgkeep(db, dir, &["backup", "--quiet"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
}

#[test]
fn rich_schema_round_trips_over_a_changed_database() {
    let c = cluster();
    let db = invoicing_db("inv");
    let dir = tempfile::tempdir().unwrap();
    let before = c.dump_create(&db);
    backup(&db, dir.path());

    // Change what a restore must undo: data, schema, a sequence, large objects. (Database-level
    // properties are not in a plain dump: they are carried over from the live database.)
    c.psql(
        &db,
        "INSERT INTO \"CRM\".\"Customer\" (\"Name\") VALUES ('after the backup');
         DROP MATERIALIZED VIEW billing.revenue_by_month;
         SELECT setval('billing.invoice_number_seq', 9999);
         SELECT lo_unlink(oid) FROM pg_largeobject_metadata;",
    );
    assert_ne!(c.dump_create(&db), before, "the change must show");
    let changed = c.dump_create(&db);

    let out = pgkeep(&db, dir.path(), &["restore", "latest", "--yes"]);
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    let after = c.dump_create(&db);
    assert_same(&after, &before);

    // The replaced database is kept, with the changes, under <db>_pre_restore_<ts>.
    let left = databases_like(&db);
    assert_eq!(left.len(), 2, "{left:?}");
    let previous = left.iter().find(|n| n.contains("_pre_restore_")).expect("pre-restore database");
    assert!(stdout(&out).contains(previous.as_str()), "{}", stdout(&out));
    // The replaced database is exactly the live one before the restore.
    assert_same(&c.dump_create(previous).replace(previous.as_str(), &db), &changed);
    // A pre-restore safety backup was taken, and it is a normal, complete backup.
    let backups = complete_backups(dir.path());
    assert_eq!(backups.len(), 2, "{backups:?}");
    let manifest = std::fs::read_to_string(format!("{}.json", backups[1].display())).unwrap();
    assert!(manifest.contains("\"label\": \"pre-restore\""), "{manifest}");
}

#[test]
fn into_creates_a_new_database_and_refuses_an_existing_one() {
    let c = cluster();
    let db = invoicing_db("into");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let copy = format!("{db}_copy");
    let out = pgkeep(&db, dir.path(), &["restore", "latest", "--yes", "--into", &copy]);
    assert!(out.status.success(), "restore --into failed: {}", stderr(&out));
    assert_eq!(plain_dump(&copy), plain_dump(&db));
    // Nothing was swapped: no pre-restore database, no safety backup.
    assert_eq!(databases_like(&db), vec![db.clone(), copy.clone()]);
    assert_eq!(complete_backups(dir.path()).len(), 1);

    let out = pgkeep(&db, dir.path(), &["restore", "latest", "--yes", "--into", &copy]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(databases_like(&db), vec![db.clone(), copy]);
}

#[test]
fn refused_without_yes_when_not_on_a_terminal() {
    let c = cluster();
    let db = c.new_db("noyes");
    c.psql(&db, "CREATE TABLE t (a int); INSERT INTO t VALUES (1)");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    c.psql(&db, "INSERT INTO t VALUES (2)");
    let before = c.dump_create(&db);
    let out = pgkeep(&db, dir.path(), &["restore", "latest"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let first = err.lines().next().unwrap_or_default();
    assert!(first.starts_with("pgkeep: error:") && first.contains("--yes"), "{err}");
    assert_eq!(c.dump_create(&db), before);
    assert_eq!(databases_like(&db), vec![db.clone()]);
    assert_eq!(complete_backups(dir.path()).len(), 1, "no safety backup either");
}
