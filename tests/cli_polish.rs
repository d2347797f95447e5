//! Small CLI edges of issue 13 against the private cluster: `pgkeep logs` on the direct
//! target, user errors as one line even with RUST_BACKTRACE=1, a backup named without
//! `.sql.gz`, a config error on one line, `--help` env notes, sizes in IEC units.

mod common;

use common::{pgkeep, pgkeep_cmd, stderr, stdout};

#[test]
fn logs_prints_the_direct_servers_log() {
    let c = common::cluster();
    let db = c.new_db("cli_logs");
    // A line we can recognise in the server's log.
    c.psql(
        &db,
        "DO $$ BEGIN RAISE LOG 'pgkeep-logs-marker-13'; END $$;",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut found = false;
    for _ in 0..20 {
        let out = pgkeep(&db, dir.path(), &["logs", "-n", "200"]);
        assert!(out.status.success(), "logs failed: {}", stderr(&out));
        if stdout(&out).contains("pgkeep-logs-marker-13") {
            found = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(found, "the server's log line is printed");
    let out = pgkeep(&db, dir.path(), &["logs", "-n", "3"]);
    assert_eq!(stdout(&out).lines().count(), 3, "-n limits the lines");
}

#[test]
fn user_errors_are_one_line_even_with_rust_backtrace() {
    let c = common::cluster();
    let db = c.new_db("cli_bt");
    let dir = tempfile::tempdir().unwrap();
    for (var, val) in [("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")] {
        let out = pgkeep_cmd(
            &db,
            dir.path(),
            &["restore", "no_such_backup.sql.gz", "--yes"],
        )
        .env(var, val)
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{var}={val}: one line, got:\n{err}");
        assert!(err.starts_with("pgkeep: error: no backup named"), "{err}");
    }
    // --debug asks for the details; the last line is still the one-line message.
    let out = pgkeep_cmd(
        &db,
        dir.path(),
        &["--debug", "restore", "no_such_backup.sql.gz", "--yes"],
    )
    .output()
    .unwrap();
    let err = stderr(&out);
    assert!(err.lines().count() > 1, "--debug adds details:\n{err}");
    assert!(err
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("pgkeep: error:"));
}

#[test]
fn a_backup_name_without_suffix_is_found_and_sizes_are_iec() {
    let c = common::cluster();
    let db = c.new_db("cli_stem");
    c.pgbench_init(&db, 1);
    let dir = tempfile::tempdir().unwrap();
    let out = pgkeep(&db, dir.path(), &["backup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = common::complete_backups(dir.path()).remove(0);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let stem = name.trim_end_matches(".sql.gz");
    let out = pgkeep(&db, dir.path(), &["verify", stem]);
    assert!(out.status.success(), "verify {stem}: {}", stderr(&out));
    assert!(
        stdout(&out).contains("100,000 rows") || stdout(&out).contains(" rows match"),
        "{}",
        stdout(&out)
    );
    let list = stdout(&pgkeep(&db, dir.path(), &["list"]));
    assert!(list.contains("KiB") || list.contains("MiB"), "{list}");
    assert!(!list.contains(" MB") && !list.contains(" kB"), "{list}");
}

#[test]
fn config_errors_are_one_line_and_help_shows_env_names() {
    let c = common::cluster();
    let db = c.new_db("cli_cfg");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pgkeep.toml");
    std::fs::write(&cfg, "backup_dir = \"x\"\nnot_a_setting = 1\n").unwrap();
    let out = pgkeep_cmd(&db, dir.path(), &["list"])
        .env("PGKEEP_CONFIG", &cfg)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("line 2, column 1") && !err.contains('^'),
        "{err}"
    );
    let help = stdout(&pgkeep_cmd(&db, dir.path(), &["--help"]).output().unwrap());
    assert!(help.contains("[env: PGKEEP_CONFIG]"), "{help}");
    assert!(!help.contains("=]"), "{help}");
}
