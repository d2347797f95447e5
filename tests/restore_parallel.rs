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

/// Backs `db` up into a new folder and restores it `--into <db>_copy` over 4 connections.
fn backup_and_restore_with_4_jobs(db: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    backup(db, dir.path());
    let copy = format!("{db}_copy");
    let out = pgkeep(
        db,
        dir.path(),
        &["restore", "latest", "--yes", "--jobs", "4", "--into", &copy],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, copy)
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

/// Restores `file` `--into copy` on a terminal (so the job log is shown) and returns what
/// the terminal showed; fails unless the restore succeeded.
fn restore_on_a_terminal(db: &str, dir: &Path, file: &Path, copy: &str) -> String {
    let c = cluster();
    let cmdline = format!(
        "{} --backup-dir {} restore {} --yes --into {copy}",
        common::pgkeep_bin().display(),
        dir.display(),
        file.display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &cmdline, "/dev/null"]);
    cmd.env_remove("PGKEEP_URL")
        .env_remove("PGKEEP_CONFIG")
        .env_remove("PGKEEP_JOBS")
        .env("PGKEEP_TARGET", "direct");
    for (k, v) in c.pgkeep_env(db) {
        cmd.env(k, v);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", common::pg_bin().display()));
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    shown
}

/// A backup folder on a nearly full disk (a 24 MiB tmpfs) has no room for the parallel
/// load's spool files: the restore loads with psql, says why, and does not fill the disk.
/// Skipped, with a note, where this process may not mount a tmpfs.
#[test]
fn a_backup_folder_without_room_to_spool_loads_with_psql_and_says_so() {
    let c = cluster();
    let db = c.new_db("parroom");
    c.psql(&db, "CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 1000) g");
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs"])
        .arg(&small)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&small);
    let dir = small.join("db_backups");
    backup(&db, &dir);
    let file = complete_backups(&dir).pop().unwrap();
    let copy = format!("{db}_copy");
    let shown = restore_on_a_terminal(&db, &dir, &file, &copy);
    assert!(
        shown.contains("loading with psql (no parallel load: ") && shown.contains("free"),
        "{shown}"
    );
    assert_eq!(
        c.psql(&copy, "SELECT count(*), sum(id) FROM t"),
        "1000|500500"
    );
    assert_no_spool(&dir);
}

/// A table larger than the spool's release step (64 MiB): its sent rows are released from
/// the disk while the COPY goes on, and every row still arrives.
#[test]
fn a_table_larger_than_the_release_step_round_trips() {
    let c = cluster();
    let db = c.new_db("parbig");
    c.psql(
        &db,
        "CREATE TABLE big (id int PRIMARY KEY, filler text);
         INSERT INTO big SELECT g, md5(g::text) || repeat('x', 60) FROM generate_series(1, 800000) g",
    );
    let (dir, copy) = backup_and_restore_with_4_jobs(&db);
    let q = "SELECT count(*), md5(string_agg(id::text || filler, ',' ORDER BY id)) FROM big";
    assert_eq!(c.psql(&copy, q), c.psql(&db, q));
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
    let copy = format!("{db}_copy");
    let shown = restore_on_a_terminal(&db, dir.path(), &file, &copy);
    assert!(shown.contains("loading it with psql instead"), "{shown}");
    assert!(shown.contains("\\echo"), "{shown}");
    assert_eq!(c.psql(&copy, "SELECT count(*) FROM t"), "100");
}

#[test]
fn large_empty_tables_load_frozen_and_a_table_already_holding_rows_keeps_them() {
    let c = cluster();
    let db = dependent_db("parfrz");
    // A partition and an inheritance child with more than 1 MiB of rows each; the other
    // tables stay small. Autovacuum is off for every table (the setting is restored with
    // them), so only the load can have made pages all-visible.
    c.psql(
        &db,
        "CREATE TABLE shop.setting (id int PRIMARY KEY, value text);
         INSERT INTO shop.setting VALUES (1, 'from the dump'), (2, 'also from the dump');
         INSERT INTO shop.event SELECT g, date '2025-02-01' + (g % 300), 1 + g % 300,
                repeat('event text ', 6) || g FROM generate_series(10000, 40000) g;
         INSERT INTO shop.book SELECT g, repeat('book title ', 6) || g, 'isbn-' || g
                FROM generate_series(100000, 130000) g;
         DO $$ DECLARE t regclass; BEGIN
             FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'shop' AND c.relkind = 'r' LOOP
                 EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = false)', t);
             END LOOP;
         END $$",
    );
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let sql = gunzip(&complete_backups(dir.path()).pop().unwrap());
    // Like an extension's configuration table (PostGIS's spatial_ref_sys): rows are in the
    // table before its COPY, from the schema part of the dump. They must survive the load.
    let create = sql
        .find("CREATE TABLE shop.setting (")
        .expect("the table's definition");
    let end = create + sql[create..].find(");\n").unwrap() + 3;
    let preset = format!(
        "{}\nINSERT INTO shop.setting VALUES (100, 'preset by the schema');\n{}",
        &sql[..end],
        &sql[end..]
    );
    let file = dir.path().join(format!("{db}_2020-01-05T00-00-00Z.sql.gz"));
    gzip_to(&file, &preset);
    let copy = format!("{db}_copy");
    let out = pgkeep(
        &db,
        dir.path(),
        &[
            "restore",
            file.to_str().unwrap(),
            "--yes",
            "--jobs",
            "4",
            "--into",
            &copy,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        c.psql(
            &copy,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM shop.setting"
        ),
        "1,2,100"
    );
    // The large tables (a partition and an inheritance child) were loaded frozen: after
    // ANALYZE every page counts as all-visible. The small ones were loaded as before (a
    // frozen load costs them more than it saves). Every table's content is the source's.
    let frozen = "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'shop' AND c.relkind = 'r' AND c.relpages > 0 AND c.relallvisible = c.relpages";
    assert_eq!(c.psql(&copy, frozen), "book,event_2025");
    let loaded = "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'shop' AND c.relkind = 'r' AND c.relpages > 0";
    assert_eq!(c.psql(&copy, loaded), "8", "every table has rows");
    for table in [
        "shop.\"Order\"",
        "shop.event",
        "shop.book",
        "shop.item",
        "shop.customer",
    ] {
        let q = format!(
            "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"
        );
        assert_eq!(c.psql(&copy, &q), c.psql(&db, &q), "{table}");
    }
    assert_no_spool(dir.path());
}

#[test]
fn extended_statistics_and_statistics_targets_are_in_place_before_analyze() {
    let c = cluster();
    let db = c.new_db("parstx");
    c.psql(
        &db,
        "CREATE TABLE s (a int, b int);
         INSERT INTO s SELECT g % 1000, g / 1000 FROM generate_series(1, 100000) g;
         CREATE STATISTICS s_ab (ndistinct, dependencies, mcv) ON a, b FROM s;
         ALTER STATISTICS s_ab SET STATISTICS 500;
         CREATE INDEX s_expr ON s ((a * 1000 + b));
         ALTER INDEX s_expr ALTER COLUMN 1 SET STATISTICS 300",
    );
    c.psql(&db, "ANALYZE s");
    let (_dir, copy) = backup_and_restore_with_4_jobs(&db);
    assert_eq!(plain_dump(&copy), plain_dump(&db));
    // The extended statistics were filled by the table's ANALYZE, and the expression
    // index's own target (300, not the default 100) was in place when it ran.
    let ext = "SELECT count(*) FROM pg_stats_ext WHERE statistics_name = 's_ab'
                 AND n_distinct IS NOT NULL AND dependencies IS NOT NULL";
    assert_eq!(c.psql(&copy, ext), "1");
    let bounds = "SELECT array_length(histogram_bounds::text::text[], 1) FROM pg_stats
                   WHERE tablename = 's_expr'";
    assert_eq!(c.psql(&copy, bounds), c.psql(&db, bounds));
    assert_eq!(c.psql(&copy, bounds), "301");
}

#[test]
fn a_frozen_load_ended_by_a_deadlock_is_loaded_again_unfrozen() {
    let c = cluster();
    let db = c.new_db("pardl");
    // The check fails with the deadlock error only inside a transaction that already has
    // an id before the first row: the frozen load's (its TRUNCATE took one), not a plain
    // COPY's. A stand-in for two frozen loads whose check functions wait on each other.
    c.psql(
        &db,
        "CREATE FUNCTION public.no_early_xid(id int) RETURNS boolean LANGUAGE plpgsql AS $f$
         BEGIN
             IF id = 1 AND txid_current_if_assigned() IS NOT NULL THEN
                 RAISE EXCEPTION 'deadlock stand-in' USING ERRCODE = '40P01';
             END IF;
             RETURN true;
         END $f$;
         CREATE TABLE d (id int PRIMARY KEY CHECK (public.no_early_xid(id)), v text)
             WITH (autovacuum_enabled = false)",
    );
    c.psql(&db, "INSERT INTO d VALUES (1, 'one')");
    // More than 1 MiB: large enough for a frozen load.
    c.psql(
        &db,
        "INSERT INTO d SELECT g, repeat('v', 600) || g FROM generate_series(2, 2000) g",
    );
    let (dir, copy) = backup_and_restore_with_4_jobs(&db);
    let q = "SELECT count(*), md5(string_agg(d::text, '|' ORDER BY id)) FROM d";
    assert_eq!(c.psql(&copy, q), c.psql(&db, q));
    // Loaded the plain way: nothing is all-visible before a VACUUM.
    assert_eq!(
        c.psql(
            &copy,
            "SELECT relallvisible FROM pg_class WHERE relname = 'd'"
        ),
        "0"
    );
    assert_no_spool(dir.path());
}
