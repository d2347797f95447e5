//! The parallel loader against a real server: every fixture round-trips with `--jobs 4` and
//! with the serial `--jobs 1` (restore and verify); a schema whose tables depend on each
//! other; a failing statement in the middle of the parallel phase changes nothing; a dump
//! only psql can load falls back to the serial load and says so.

mod common;
mod restore_support;

use std::path::Path;

use common::{cluster, complete_backups, pgkeep, stderr, stdout};
use restore_support::{backup, databases_like, gunzip, gzip_to, invoicing_db, plain_dump};

/// A database holding the fixture of tables that depend on each other.
fn dependent_db(prefix: &str) -> String {
    let c = cluster();
    let db = c.new_db(prefix);
    c.psql(&db, include_str!("fixtures/dependent.sql"));
    db
}

/// No spool file is left in the backup directory.
fn assert_no_spool(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pgkeep-spool-"))
        .collect();
    assert!(left.is_empty(), "spool files left: {left:?}");
}

#[test]
fn every_fixture_round_trips_with_4_jobs_and_serially() {
    let c = cluster();
    for db in [invoicing_db("par"), dependent_db("pardep")] {
        let dir = tempfile::tempdir().unwrap();
        backup(&db, dir.path());
        let want = plain_dump(&db);
        for jobs in ["4", "1"] {
            let copy = format!("{db}_j{jobs}");
            let out = pgkeep(
                &db,
                dir.path(),
                &[
                    "restore", "latest", "--yes", "--jobs", jobs, "--into", &copy,
                ],
            );
            assert!(out.status.success(), "--jobs {jobs}: {}", stderr(&out));
            assert_eq!(plain_dump(&copy), want, "--jobs {jobs} of {db}");
            let out = pgkeep(&db, dir.path(), &["verify", "latest", "--jobs", jobs]);
            assert!(
                out.status.success(),
                "verify --jobs {jobs}: {}",
                stderr(&out)
            );
            assert!(
                stdout(&out).contains("rows match the manifest"),
                "{}",
                stdout(&out)
            );
        }
        assert_no_spool(dir.path());
        // The trigger did not fire during the load; the tables are analyzed.
        if db.starts_with("pardep") {
            let copy = format!("{db}_j4");
            assert_eq!(c.psql(&copy, "SELECT count(*) FROM shop.audit"), "3000");
            assert_eq!(
                c.psql(
                    &copy,
                    "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = 'shop' AND last_analyze IS NULL AND relname <> 'event'"
                ),
                "0"
            );
            // The loaded database works: the foreign keys and the trigger are live.
            c.psql(
                &copy,
                "INSERT INTO shop.\"Order\" (id, customer_id, amount) VALUES (5000, 1, 1)",
            );
            assert_eq!(c.psql(&copy, "SELECT count(*) FROM shop.audit"), "3001");
        }
    }
}

#[test]
fn a_failing_index_in_the_parallel_phase_changes_nothing() {
    let c = cluster();
    let db = dependent_db("parfail");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    c.psql(
        &db,
        "UPDATE shop.customer SET name = name || ' (changed)' WHERE id <= 5",
    );
    let before = c.dump_create(&db);
    let good = complete_backups(dir.path()).pop().unwrap();
    let sql = gunzip(&good);
    // A broken index among the indexes that are built in parallel.
    let at = sql
        .find("-- Name: order_note_lower;")
        .expect("the index entry");
    let broken = format!(
        "{}-- Name: broken; Type: INDEX; Schema: shop; Owner: -\n--\n\nCREATE INDEX broken ON shop.customer USING btree (no_such_column);\n\n--\n{}",
        &sql[..at],
        &sql[at..]
    );
    let bad = dir.path().join(format!("{db}_2020-01-03T00-00-00Z.sql.gz"));
    gzip_to(&bad, &broken);
    let out = pgkeep(
        &db,
        dir.path(),
        &[
            "restore",
            bad.to_str().unwrap(),
            "--yes",
            "--no-safety-backup",
            "--jobs",
            "4",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("pgkeep: error:") && first.contains("no_such_column"),
        "{err}"
    );
    assert_eq!(c.dump_create(&db), before, "the live database changed");
    assert_eq!(databases_like(&db), vec![db.clone()]);
    assert_no_spool(dir.path());
}

#[test]
fn a_dump_only_psql_can_load_falls_back_to_the_serial_load_and_says_so() {
    let c = cluster();
    let db = c.new_db("parfall");
    c.psql(&db, "CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 100) g");
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let good = complete_backups(dir.path()).pop().unwrap();
    let sql = gunzip(&good);
    // Before pg_dump's `\restrict` line (after it psql allows no other meta-command).
    let odd = format!("\\echo loading\n{sql}");
    let file = dir.path().join(format!("{db}_2020-01-04T00-00-00Z.sql.gz"));
    gzip_to(&file, &odd);
    // On a terminal, so the job log is shown.
    let copy = format!("{db}_copy");
    let cmdline = format!(
        "{} --backup-dir {} restore {} --yes --into {copy}",
        common::pgkeep_bin().display(),
        dir.path().display(),
        file.display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &cmdline, "/dev/null"]);
    cmd.env_remove("PGKEEP_URL")
        .env_remove("PGKEEP_CONFIG")
        .env_remove("PGKEEP_JOBS")
        .env("PGKEEP_TARGET", "direct");
    for (k, v) in c.pgkeep_env(&db) {
        cmd.env(k, v);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", common::pg_bin().display()));
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("loading it with psql instead"), "{shown}");
    assert!(shown.contains("\\echo"), "{shown}");
    assert_eq!(c.psql(&copy, "SELECT count(*) FROM t"), "100");
}
