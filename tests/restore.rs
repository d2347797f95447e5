//! Restore round trips against a real server: the rich invoicing schema restored over a
//! changed live database reads the same in `pg_dump --create`; `--into`; consent.

mod common;
mod restore_support;

use common::{cluster, complete_backups, pgkeep, stderr, stdout};
use restore_support::{assert_same, backup, databases_like, invoicing_db, plain_dump};

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
    let previous = left
        .iter()
        .find(|n| n.contains("_pre_restore_"))
        .expect("pre-restore database");
    assert!(stdout(&out).contains(previous.as_str()), "{}", stdout(&out));
    // The replaced database is exactly the live one before the restore.
    assert_same(
        &c.dump_create(previous).replace(previous.as_str(), &db),
        &changed,
    );
    // A pre-restore safety backup was taken, and it is a normal, complete backup.
    let backups = complete_backups(dir.path());
    assert_eq!(backups.len(), 2, "{backups:?}");
    let manifest = std::fs::read_to_string(format!("{}.json", backups[1].display())).unwrap();
    assert!(
        manifest.contains("\"label\": \"pre-restore\""),
        "{manifest}"
    );
}

#[test]
fn into_creates_a_new_database_and_refuses_an_existing_one() {
    let db = invoicing_db("into");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let copy = format!("{db}_copy");
    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--into", &copy],
    );
    assert!(
        out.status.success(),
        "restore --into failed: {}",
        stderr(&out)
    );
    assert_eq!(plain_dump(&copy), plain_dump(&db));
    // Nothing was swapped: no pre-restore database, no safety backup.
    assert_eq!(databases_like(&db), vec![db.clone(), copy.clone()]);
    assert_eq!(complete_backups(dir.path()).len(), 1);

    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--into", &copy],
    );
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
    assert!(
        first.starts_with("pgkeep: error:") && first.contains("--yes"),
        "{err}"
    );
    assert_eq!(c.dump_create(&db), before);
    assert_eq!(databases_like(&db), vec![db.clone()]);
    assert_eq!(
        complete_backups(dir.path()).len(),
        1,
        "no safety backup either"
    );
}

/// Runs `pgkeep restore latest --no-safety-backup` on a pseudo-terminal (util-linux
/// `script`), typing `answer`; returns (success, what the terminal showed).
fn restore_on_a_terminal(db: &str, dir: &std::path::Path, answer: &str) -> (bool, String) {
    use std::io::{Read, Write};
    let c = cluster();
    let cmdline = format!(
        "{} --backup-dir {} restore latest --no-safety-backup",
        common::pgkeep_bin().display(),
        dir.display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &cmdline, "/dev/null"]);
    cmd.env_remove("PGKEEP_URL")
        .env_remove("PGKEEP_CONFIG")
        .env("PGKEEP_TARGET", "direct");
    for (k, v) in c.pgkeep_env(db) {
        cmd.env(k, v);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", common::pg_bin().display()));
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("script(1) runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
    let mut shown = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut shown)
        .unwrap();
    drop(stdin);
    (child.wait().unwrap().success(), shown)
}

#[test]
fn on_a_terminal_the_database_name_must_be_typed_back() {
    let c = cluster();
    let db = c.new_db("tty");
    c.psql(&db, "CREATE TABLE t (a int); INSERT INTO t VALUES (1)");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    c.psql(&db, "INSERT INTO t VALUES (2)");

    let (ok, shown) = restore_on_a_terminal(&db, dir.path(), "not-the-name");
    assert!(!ok, "{shown}");
    assert!(
        shown.contains(&format!("REPLACES database \"{db}\"")),
        "{shown}"
    );
    assert!(shown.contains("did not match"), "{shown}");
    assert_eq!(c.psql(&db, "SELECT count(*) FROM t"), "2");
    assert_eq!(databases_like(&db), vec![db.clone()]);

    let (ok, shown) = restore_on_a_terminal(&db, dir.path(), &db);
    assert!(ok, "{shown}");
    assert_eq!(c.psql(&db, "SELECT count(*) FROM t"), "1");
}

#[test]
fn sessions_on_the_live_database_are_ended_for_the_swap() {
    let c = cluster();
    let db = c.new_db("busy");
    c.psql(&db, "CREATE TABLE t (a int); INSERT INTO t VALUES (1)");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    c.psql(&db, "INSERT INTO t VALUES (2)");
    // An application session that stays connected (and busy) through the restore.
    let mut app = c
        .client_cmd("psql")
        .args(["-X", "-q", "-d", &db, "-c", "SELECT pg_sleep(120)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let connected = restore_support::wait_for(30, || {
        c.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND query LIKE '%pg_sleep%'"),
        ) != "0"
    });
    assert!(connected, "the application session did not start");
    let out = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--no-safety-backup"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !app.wait().unwrap().success(),
        "the session should have been ended"
    );
    assert_eq!(c.psql(&db, "SELECT count(*) FROM t"), "1");
}
