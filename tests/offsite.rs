//! Offsite copies against real parts: a directory target in a temp dir, and S3 through
//! `moto_server` on loopback (skipped with a note when moto is not installed), with real
//! backups of a real PostgreSQL database.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{cluster, complete_backups, pgkeep, stderr, stdout, DirOffsite};

fn make_backup(db: &str, dir: &Path) -> PathBuf {
    let out = pgkeep(db, dir, &["backup", "--quiet"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    PathBuf::from(stdout(&out).trim())
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn new_database() -> String {
    let c = cluster();
    let db = c.new_db("offsite");
    c.psql(&db, "CREATE TABLE invoice(id int primary key, total numeric); INSERT INTO invoice SELECT g, g * 1.5 FROM generate_series(1, 500) g");
    db
}

#[test]
fn dir_target_push_list_pull_and_damaged_copy() {
    let db = new_database();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let offsite = DirOffsite::new(tmp.path(), "");
    let (nas, cfg) = (&offsite.nas, &offsite.cfg);
    let cfg_s = cfg.to_str().unwrap();
    let backup = make_backup(&db, &dir);
    let name = name_of(&backup);

    std::fs::remove_dir(nas).unwrap();
    let unmounted = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "push"]);
    assert_eq!(unmounted.status.code(), Some(1));
    assert!(
        stderr(&unmounted).contains("does not exist"),
        "{}",
        stderr(&unmounted)
    );
    assert!(
        !nas.exists(),
        "a missing offsite directory is never created"
    );
    std::fs::create_dir(nas).unwrap();

    let push = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "push"]);
    assert!(push.status.success(), "{}", stderr(&push));
    assert!(
        stdout(&push).contains(&format!("copied {name}")),
        "{}",
        stdout(&push)
    );
    let copy = nas.join(&name);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&backup).unwrap()
    );
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        nas.join(format!("{name}.json")).exists(),
        "manifest copied too"
    );

    let again = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "push"]);
    assert!(stdout(&again).contains("0 copied"), "{}", stdout(&again));

    // `pgkeep list` says where each backup lives once offsite targets are configured
    let listed = pgkeep(&db, &dir, &["--config", cfg_s, "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(v[0]["name"], name.as_str());
    assert_eq!(v[0]["where"], "both", "{v}");
    let text = stdout(&pgkeep(&db, &dir, &["--config", cfg_s, "list"]));
    assert!(text.lines().next().unwrap().contains("WHERE"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("both") && l.contains(&name)),
        "{text}"
    );
    let plain = stdout(&pgkeep(&db, &dir, &["list", "--json"]));
    assert!(
        !plain.contains("\"where\""),
        "no offsite configured: no where field"
    );

    let list = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "list"]);
    assert!(
        stdout(&list)
            .lines()
            .any(|l| l.starts_with("both") && l.contains(&name)),
        "{}",
        stdout(&list)
    );

    // lose the local copy: list says offsite, pull brings it back byte for byte
    let original = std::fs::read(&backup).unwrap();
    std::fs::remove_file(&backup).unwrap();
    std::fs::remove_file(format!("{}.json", backup.display())).unwrap();
    let list = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "list"]);
    assert!(
        stdout(&list)
            .lines()
            .any(|l| l.starts_with("offsite") && l.contains(&name)),
        "{}",
        stdout(&list)
    );
    let pull = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "pull", &name]);
    assert!(pull.status.success(), "{}", stderr(&pull));
    assert_eq!(std::fs::read(&backup).unwrap(), original);
    assert!(PathBuf::from(format!("{}.json", backup.display())).exists());
    let list = pgkeep(&db, &dir, &["list"]);
    assert!(
        stdout(&list).contains(&name),
        "pulled backup is listed: {}",
        stdout(&list)
    );

    let twice = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "pull", &name]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        stderr(&twice).contains("already exists"),
        "{}",
        stderr(&twice)
    );

    // a damaged offsite copy is refused and leaves nothing behind
    let mut bytes = std::fs::read(&copy).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&copy, bytes).unwrap();
    std::fs::remove_file(&backup).unwrap();
    std::fs::remove_file(format!("{}.json", backup.display())).unwrap();
    std::fs::remove_file(format!("{}.globals.sql", backup.display())).unwrap();
    let bad = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "pull", &name]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("sha256"), "{}", stderr(&bad));
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".sql.gz"))
        .collect();
    assert!(
        left.is_empty(),
        "nothing may be left in the backup dir: {left:?}"
    );

    let unknown = pgkeep(
        &db,
        &dir,
        &[
            "--config",
            cfg_s,
            "offsite",
            "pull",
            "nope_2020-01-01T00-00-00Z.sql.gz",
        ],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("offsite list"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn scheduled_backup_copies_offsite_and_prunes_both_sides() {
    let db = new_database();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let offsite = DirOffsite::new(
        tmp.path(),
        "[retention]\nkeep_last = 2\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nmin_age_hours = 0\n",
    );
    let (nas, cfg) = (&offsite.nas, &offsite.cfg);
    let cfg_s = cfg.to_str().unwrap();
    let mut names = Vec::new();
    for _ in 0..3 {
        let out = pgkeep(
            &db,
            &dir,
            &["--config", cfg_s, "backup", "--quiet", "--scheduled"],
        );
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        let log = stdout(&out);
        assert!(
            log.contains("offsite ok") && log.contains("prune ok"),
            "{log}"
        );
        names.push(complete_backups(&dir).last().map(|p| name_of(p)).unwrap());
        std::thread::sleep(Duration::from_millis(1100)); // file names have one-second resolution
    }
    let here: Vec<String> = complete_backups(&dir).iter().map(|p| name_of(p)).collect();
    assert_eq!(here, names[1..].to_vec(), "keep_last = 2 here");
    let mut there: Vec<String> = complete_backups(nas).iter().map(|p| name_of(p)).collect();
    there.sort();
    assert_eq!(there, names[1..].to_vec(), "and offsite");
    assert!(
        !nas.join(format!("{}.json", names[0])).exists(),
        "the pruned copy's manifest went too"
    );
}

#[test]
fn s3_target_against_moto_server() {
    let Some(moto) = common::moto::Moto::start("pgkeep-test") else {
        return;
    };
    let port = moto.port;

    let db = new_database();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let cfg = tmp.path().join("pgkeep.toml");
    let secret = "s3cr3t-Key-never-printed";
    std::fs::write(
        &cfg,
        format!(
            "[[offsite]]\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\nbucket = \"pgkeep-test\"\n\
             prefix = \"facturatie/\"\naccess_key_id = \"testing\"\nsecret_access_key = \"{secret}\"\n"
        ),
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let backup = make_backup(&db, &dir);
    let name = name_of(&backup);
    let original = std::fs::read(&backup).unwrap();

    let mut outputs = Vec::new();
    let push = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "push", &name]);
    assert!(push.status.success(), "{}", stderr(&push));
    assert!(
        stdout(&push).contains("s3://pgkeep-test/facturatie"),
        "{}",
        stdout(&push)
    );
    outputs.push(push);
    // the object really is in the bucket, under the prefix
    let listing = moto.http("GET /pgkeep-test?list-type=2&prefix=facturatie/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assert!(
        listing.contains(&format!("facturatie/{name}"))
            && listing.contains(&format!("facturatie/{name}.json")),
        "{listing}"
    );

    std::fs::remove_file(&backup).unwrap();
    std::fs::remove_file(format!("{}.json", backup.display())).unwrap();
    let list = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "list"]);
    assert!(
        stdout(&list)
            .lines()
            .any(|l| l.starts_with("offsite") && l.contains(&name)),
        "{}",
        stdout(&list)
    );
    outputs.push(list);
    let pull = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "pull", &name]);
    assert!(pull.status.success(), "{}", stderr(&pull));
    assert_eq!(std::fs::read(&backup).unwrap(), original);
    outputs.push(pull);

    for o in &outputs {
        assert!(
            !stdout(o).contains(secret) && !stderr(o).contains(secret),
            "the secret key was printed"
        );
    }
}

#[test]
fn prune_command_applies_the_policy_offsite_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    std::fs::create_dir_all(&dir).unwrap();
    let offsite = DirOffsite::new(
        tmp.path(),
        "[retention]\nkeep_last = 1\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nmin_age_hours = 0\n",
    );
    let (nas, cfg) = (&offsite.nas, &offsite.cfg);
    let names: Vec<String> = (1..4)
        .map(|d| {
            pgkeep::engine::catalog::backup_name(
                "shop",
                chrono::Utc::now() - chrono::Duration::days(d),
            )
        })
        .collect();
    for n in &names {
        std::fs::write(nas.join(n), b"x").unwrap();
        std::fs::write(nas.join(format!("{n}.json")), b"{}").unwrap();
    }
    std::fs::write(dir.join(&names[0]), b"x").unwrap();
    let run = |args: &[&str]| {
        Command::new(common::pgkeep_bin())
            .arg("--config")
            .arg(cfg)
            .arg("--backup-dir")
            .arg(&dir)
            .arg("prune")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let dry = run(&["--dry-run"]);
    assert!(
        stdout(&dry).contains("3 copies, would remove 2"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(std::fs::read_dir(nas).unwrap().count(), 6);
    let done = run(&["--yes"]);
    assert!(done.status.success(), "{}", stderr(&done));
    let mut left: Vec<String> = std::fs::read_dir(nas)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec![names[0].clone(), format!("{}.json", names[0])]);
    assert!(dir.join(&names[0]).exists());
}
