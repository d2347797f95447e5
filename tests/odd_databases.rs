//! Databases not written for pgkeep: each backs up, restores, verifies and cleans up.

mod common;
mod restore_support;

use common::{cluster, complete_backups, pgkeep, stderr, stdout};
use restore_support::databases_like;

fn backup(db: &str, dir: &std::path::Path) {
    let out = pgkeep(db, dir, &["backup", "--quiet"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
}

#[test]
fn a_database_with_a_subscription_verifies_restores_and_cleans_up() {
    let c = cluster();
    let db = c.new_db("subs");
    let sub = format!("sub{}", std::process::id());
    c.psql(
        &db,
        "CREATE TABLE t(id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)",
    );
    c.psql(
        &db,
        &format!(
            "CREATE SUBSCRIPTION {sub} CONNECTION 'host=127.0.0.1 port={} dbname=postgres' PUBLICATION nothing WITH (connect = false)",
            c.port
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());

    let verify = pgkeep(&db, dir.path(), &["verify", "latest"]);
    assert!(
        verify.status.success(),
        "verify failed: {}",
        stderr(&verify)
    );
    let restore = pgkeep(&db, dir.path(), &["restore", "latest", "--yes"]);
    assert!(
        restore.status.success(),
        "restore failed: {}",
        stderr(&restore)
    );
    assert_eq!(
        c.psql(&db, "SELECT subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = current_database()"),
        sub
    );
    let cleanup = pgkeep(&db, dir.path(), &["cleanup", "--yes"]);
    assert!(
        cleanup.status.success(),
        "cleanup failed: {}{}",
        stdout(&cleanup),
        stderr(&cleanup)
    );
    assert_eq!(databases_like(&db), vec![db.clone()]);
    assert_eq!(complete_backups(dir.path()).len(), 2);
    // The restored database's subscription is there, untouched.
    c.psql(
        &db,
        &format!("ALTER SUBSCRIPTION {sub} SET (slot_name = NONE)"),
    );
    c.psql(&db, &format!("DROP SUBSCRIPTION {sub}"));
}

#[test]
fn a_template_database_stays_a_template_and_cleanup_drops_the_replaced_one() {
    let c = cluster();
    let db = c.new_db("tmpl");
    c.psql(&db, "CREATE TABLE t(id int); INSERT INTO t VALUES (1)");
    c.psql(
        "postgres",
        &format!("ALTER DATABASE \"{db}\" IS_TEMPLATE true"),
    );
    let before = c.dump_create(&db);
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    c.psql(
        "postgres",
        &format!("ALTER DATABASE \"{db}\" IS_TEMPLATE false"),
    );

    let restore = pgkeep(&db, dir.path(), &["restore", "latest", "--yes"]);
    assert!(
        restore.status.success(),
        "restore failed: {}",
        stderr(&restore)
    );
    assert_eq!(c.dump_create(&db), before);
    let into = format!("{db}_copy");
    let restore = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--into", &into],
    );
    assert!(
        restore.status.success(),
        "restore failed: {}",
        stderr(&restore)
    );
    assert_eq!(
        c.psql(
            "postgres",
            &format!("SELECT datistemplate FROM pg_database WHERE datname = '{into}'")
        ),
        "t"
    );
    // Cleanup drops the replaced database although it was a template when it was replaced.
    c.psql(
        "postgres",
        &format!("ALTER DATABASE \"{db}\" IS_TEMPLATE true"),
    );
    let restore = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--no-safety-backup"],
    );
    assert!(
        restore.status.success(),
        "restore failed: {}",
        stderr(&restore)
    );
    let cleanup = pgkeep(&db, dir.path(), &["cleanup", "--yes"]);
    assert!(
        cleanup.status.success(),
        "cleanup failed: {}{}",
        stdout(&cleanup),
        stderr(&cleanup)
    );
    assert_eq!(databases_like(&db), vec![db.clone(), into.clone()]);
    for d in [&db, &into] {
        c.psql(
            "postgres",
            &format!("ALTER DATABASE \"{d}\" IS_TEMPLATE false"),
        );
    }
}

/// 14,000 large objects exceed this test server's lock table (64 locks per transaction × 122
/// backends) as tens of thousands exceed a production one's, in less time.
#[test]
fn tens_of_thousands_of_large_objects_restore_and_verify() {
    let c = cluster();
    let db = c.new_db("lobs");
    c.psql(
        &db,
        "DO $$ BEGIN FOR i IN 1..14 LOOP
           PERFORM lo_from_bytea(0, convert_to('blob ' || (i * 1000 + g), 'UTF8')) FROM generate_series(1, 1000) g;
           COMMIT;
         END LOOP; END $$",
    );
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let verify = pgkeep(&db, dir.path(), &["verify", "latest"]);
    assert!(
        verify.status.success(),
        "verify failed: {}",
        stderr(&verify)
    );
    let restore = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--no-safety-backup"],
    );
    assert!(
        restore.status.success(),
        "restore failed: {}",
        stderr(&restore)
    );
    assert_eq!(
        c.psql(&db, "SELECT count(*) FROM pg_largeobject_metadata"),
        "14000"
    );
}

#[test]
fn newlines_in_column_and_table_names_are_verified() {
    let c = cluster();
    let db = c.new_db("nl");
    c.psql(
        &db,
        "CREATE TABLE plain (id int); INSERT INTO plain VALUES (1);
         CREATE TABLE t (id int, \"two\nlines\" text); INSERT INTO t VALUES (1, 'a'), (2, 'b');
         CREATE TABLE \"odd\nname\" (\"x\ny\" int); INSERT INTO \"odd\nname\" VALUES (1), (2), (3);",
    );
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let verify = pgkeep(&db, dir.path(), &["verify", "latest"]);
    assert!(
        verify.status.success(),
        "verify failed: {}",
        stderr(&verify)
    );
    let said = stdout(&verify);
    assert!(said.contains("3 tables, 6 rows match"), "{said}");
}

/// Runs raw SQL bytes through psql with client_encoding `enc` (no conversion for SQL_ASCII).
fn psql_bytes(db: &str, enc: &str, sql: &[u8]) {
    use std::io::Write;
    let mut child = cluster()
        .client_cmd("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db])
        .env("PGCLIENTENCODING", enc)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(sql).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn identifiers_not_valid_utf8_back_up_restore_and_verify() {
    let c = cluster();
    for (enc, tag) in [("LATIN1", "lat"), ("SQL_ASCII", "asc")] {
        let db = format!("enc_{tag}_{}", std::process::id());
        c.psql(
            "postgres",
            &format!("CREATE DATABASE {db} TEMPLATE template0 ENCODING '{enc}' LC_COLLATE 'C' LC_CTYPE 'C'"),
        );
        // "café" and a column "naïve" in Latin-1 bytes: not valid UTF-8.
        let mut sql = b"CREATE TABLE \"caf\xe9\" (id int, \"na\xefve\" text);\n".to_vec();
        sql.extend_from_slice(
            b"INSERT INTO \"caf\xe9\" VALUES (1, 'cr\xe8me'), (2, 'br\xfbl\xe9e');\n",
        );
        sql.extend_from_slice(b"CREATE TABLE plain (id int); INSERT INTO plain VALUES (1);\n");
        psql_bytes(&db, "LATIN1", &sql);
        let before = c.dump_create(&db);
        let dir = tempfile::tempdir().unwrap();
        let out = pgkeep(&db, dir.path(), &["backup", "--quiet"]);
        assert!(
            out.status.success(),
            "{enc}: backup failed: {}",
            stderr(&out)
        );
        let verify = pgkeep(&db, dir.path(), &["verify", "latest"]);
        assert!(
            verify.status.success(),
            "{enc}: verify failed: {}",
            stderr(&verify)
        );
        assert!(
            stdout(&verify).contains("2 tables, 3 rows match"),
            "{enc}: {}",
            stdout(&verify)
        );
        let restore = pgkeep(
            &db,
            dir.path(),
            &["restore", "latest", "--yes", "--no-safety-backup"],
        );
        assert!(
            restore.status.success(),
            "{enc}: restore failed: {}",
            stderr(&restore)
        );
        assert_eq!(c.dump_create(&db), before, "{enc}");
    }
}

#[test]
fn an_invalid_index_is_named_in_one_warning() {
    let c = cluster();
    let db = c.new_db("invidx");
    c.psql(&db, "CREATE TABLE t(id int); INSERT INTO t VALUES (1), (1)");
    let out = c
        .client_cmd("psql")
        .args([
            "-X",
            "-d",
            &db,
            "-c",
            "CREATE UNIQUE INDEX CONCURRENTLY t_id_key ON t (id)",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the index build must fail");
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("INVALID")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("public.t_id_key"), "{err}");
    let manifest = std::fs::read_to_string(format!(
        "{}.json",
        complete_backups(dir.path())[0].display()
    ))
    .unwrap();
    assert!(manifest.contains("public.t_id_key"), "{manifest}");
}

/// Installs a tiny extension with a configuration table (as PostGIS has `spatial_ref_sys`):
/// 100 rows from `CREATE EXTENSION`, of which pg_dump dumps only user-added ones. None when the
/// server's extension directory is not writable here.
fn install_config_table_extension() -> Option<&'static str> {
    let out = std::process::Command::new(common::pg_bin().join("pg_config"))
        .arg("--sharedir")
        .output()
        .ok()?;
    let dir =
        std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("extension");
    let name = "pgkeep_cfgtest";
    std::fs::write(
        dir.join(format!("{name}.control")),
        "comment = 'pgkeep test: an extension configuration table'\ndefault_version = '1.0'\nrelocatable = false\nschema = public\n",
    )
    .ok()?;
    std::fs::write(
        dir.join(format!("{name}--1.0.sql")),
        "CREATE TABLE ref_sys (srid int PRIMARY KEY, name text);\n\
         INSERT INTO ref_sys SELECT g, 'system ' || g FROM generate_series(1, 100) g;\n\
         SELECT pg_catalog.pg_extension_config_dump('ref_sys', 'WHERE srid > 1000');\n",
    )
    .ok()?;
    Some(name)
}

#[test]
fn extension_configuration_tables_verify_as_dumped() {
    let Some(ext) = install_config_table_extension() else {
        eprintln!("skipped: cannot install a test extension into the server's share directory");
        return;
    };
    let c = cluster();
    let db = c.new_db("extcfg");
    c.psql(
        &db,
        &format!("CREATE EXTENSION {ext}; INSERT INTO ref_sys VALUES (2001, 'mine'), (2002, 'also mine'); CREATE TABLE t(id int); INSERT INTO t VALUES (1)"),
    );
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let verify = pgkeep(&db, dir.path(), &["verify", "latest"]);
    assert!(
        verify.status.success(),
        "verify failed: {}",
        stderr(&verify)
    );
    assert!(
        stdout(&verify).contains("2 tables, 3 rows match"),
        "{}",
        stdout(&verify)
    );
    let restore = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--no-safety-backup"],
    );
    assert!(
        restore.status.success(),
        "restore failed: {}",
        stderr(&restore)
    );
    assert_eq!(c.psql(&db, "SELECT count(*) FROM ref_sys"), "102");
}

#[test]
fn an_index_on_a_search_path_dependent_function_is_named_in_one_warning() {
    let c = cluster();
    let db = c.new_db("spidx");
    c.psql(
        &db,
        "CREATE FUNCTION helper(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x * 2';
         CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT helper(x)';
         CREATE TABLE t(id int); INSERT INTO t VALUES (1);
         CREATE INDEX t_twice ON t (twice(id));",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("search_path")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("public.t_twice (twice(integer))"),
        "{err}"
    );
}

/// 3,000 tables with a TOAST table, a key and an index each hold more locks than this test
/// server's lock table has (64 × 122), as a few thousand do on a production one: the serial
/// load (`--jobs 1`, and psql's fallback) must not run them in one transaction.
#[test]
fn thousands_of_tables_restore_serially() {
    let c = cluster();
    let db = c.new_db("tables");
    c.psql(
        &db,
        "DO $$ BEGIN FOR i IN 1..3000 LOOP
           EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, note text, n int); CREATE INDEX ON t%s (n);
                           INSERT INTO t%s VALUES (1, ''row of %s'', %s)', i, i, i, i, i);
           IF i % 500 = 0 THEN COMMIT; END IF;
         END LOOP; END $$",
    );
    let dir = tempfile::tempdir().unwrap();
    backup(&db, dir.path());
    let copy = format!("{db}_copy");
    let restore = pgkeep(
        &db,
        dir.path(),
        &["restore", "latest", "--yes", "--jobs", "1", "--into", &copy],
    );
    assert!(
        restore.status.success(),
        "restore failed: {}",
        stderr(&restore)
    );
    let q = "SELECT count(*), sum(n) FROM (SELECT (xpath('/row/n/text()',
               query_to_xml(format('SELECT n FROM %I', relname), false, true, '')))[1]::text::int AS n
             FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace) s";
    assert_eq!(c.psql(&copy, q), "3000|4501500");
}
