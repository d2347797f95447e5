//! Local backups encrypted with age (top-level `encrypt_to`) against a real PostgreSQL
//! server: the stored dump and globals file are age files, restore and verify need the
//! identity and refuse a missing or wrong one in one line before touching the live database,
//! the `age` CLI decrypts a backup by hand, an encrypted backup survives a plain offsite
//! copy and pull, and a point-in-time restore's safety backup is encrypted too.

mod common;
mod pitr_support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use age::secrecy::ExposeSecret;
use common::{cluster, pgkeep_cmd, stderr, stdout};

const SECRET_TABLE: &str = "customer_addresses_local";

fn new_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let path = dir.join(name);
    let text = format!(
        "# public key: {recipient}\n{}\n",
        id.to_string().expose_secret()
    );
    std::fs::write(&path, text).unwrap();
    (path, recipient)
}

/// pgkeep with `--config cfg`, no identity in the environment unless `identity` is given.
fn run(db: &str, dir: &Path, cfg: &Path, identity: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = pgkeep_cmd(db, dir, &[]);
    cmd.arg("--config").arg(cfg).args(args);
    cmd.env_remove("PGKEEP_AGE_IDENTITY");
    if let Some(id) = identity {
        cmd.env("PGKEEP_AGE_IDENTITY", id);
    }
    cmd.output().unwrap()
}

/// Asserts a refusal: exit 1, one line on stderr containing `needle`, no panic.
fn assert_refused(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn backups_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".sql.gz.age"))
        .collect();
    v.sort();
    v
}

fn street_of_1(db: &str) -> String {
    cluster().psql(
        db,
        &format!("SELECT street FROM {SECRET_TABLE} WHERE id = 1"),
    )
}

#[test]
fn encrypted_local_backup_restores_verifies_and_refuses_missing_or_wrong_keys() {
    let c = cluster();
    let db = c.new_db("localenc");
    c.psql(&db, &format!("CREATE TABLE {SECRET_TABLE}(id int primary key, street text); INSERT INTO {SECRET_TABLE} SELECT g, 'Main Street ' || g FROM generate_series(1, 3000) g"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let (key, recipient) = new_key(tmp.path(), "key.txt");
    let (wrong, _) = new_key(tmp.path(), "wrong.txt");
    let cfg = tmp.path().join("pgkeep.toml");
    std::fs::write(&cfg, format!("encrypt_to = [\"{recipient}\"]\n")).unwrap();

    let made = run(&db, &dir, &cfg, None, &["backup", "--quiet"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let path = PathBuf::from(stdout(&made).trim());
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with(".sql.gz.age"), "{name}");
    let stored = std::fs::read(&path).unwrap();
    assert!(
        stored.starts_with(b"age-encryption.org/v1\n"),
        "an age file"
    );
    assert!(!String::from_utf8_lossy(&stored).contains("Main Street"));
    let globals = std::fs::read(format!("{}.globals.sql", path.display())).unwrap();
    assert!(globals.starts_with(b"age-encryption.org/v1\n"));
    assert!(!String::from_utf8_lossy(&globals).contains("ROLE"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", path.display())).unwrap())
            .unwrap();
    assert_eq!(
        manifest["encryption"]["encrypted_to"][0],
        recipient.as_str()
    );
    assert_eq!(manifest["compressed_bytes"], stored.len() as u64);
    let list = run(&db, &dir, &cfg, None, &["list"]);
    assert!(stdout(&list).contains(&name), "{}", stdout(&list));

    // the age CLI decrypts it by hand (README recipe), when it is installed
    if let Ok(out) = Command::new("age")
        .args(["-d", "-i"])
        .arg(&key)
        .arg(&path)
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut sql = Vec::new();
        flate2::read::GzDecoder::new(&out.stdout[..])
            .read_to_end(&mut sql)
            .unwrap();
        assert!(String::from_utf8_lossy(&sql).contains("Main Street 1\n"));
    }

    // verify: no key, wrong key, then the key (recorded as the test decryption)
    let doctor = stdout(&run(&db, &dir, &cfg, None, &["doctor"]));
    assert!(
        doctor.contains("local backups are encrypted but no test decryption"),
        "{doctor}"
    );
    let no_key = run(&db, &dir, &cfg, None, &["verify", "latest", "--quiet"]);
    assert_refused(&no_key, "PGKEEP_AGE_IDENTITY");
    let bad = run(
        &db,
        &dir,
        &cfg,
        Some(&wrong),
        &["verify", "latest", "--quiet"],
    );
    assert_refused(&bad, "wrong key");
    let ok = run(
        &db,
        &dir,
        &cfg,
        None,
        &[
            "verify",
            "latest",
            "--quiet",
            "--identity",
            key.to_str().unwrap(),
        ],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let doctor = stdout(&run(&db, &dir, &cfg, None, &["doctor"]));
    assert!(!doctor.contains("no test decryption"), "{doctor}");

    // restore: a missing or wrong key is refused before anything happens
    c.psql(
        &db,
        &format!("UPDATE {SECRET_TABLE} SET street = 'changed'"),
    );
    let before = backups_in(&dir);
    let no_key = run(
        &db,
        &dir,
        &cfg,
        None,
        &["restore", "latest", "--yes", "--quiet"],
    );
    assert_refused(&no_key, "--identity");
    let mut cmd = pgkeep_cmd(
        &db,
        &dir,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "restore",
            "latest",
            "--yes",
            "--quiet",
        ],
    );
    cmd.env("RUST_BACKTRACE", "1").arg("--identity").arg(&wrong);
    assert_refused(&cmd.output().unwrap(), "wrong key");
    assert_eq!(
        street_of_1(&db),
        "changed",
        "the live database is untouched"
    );
    assert_eq!(backups_in(&dir), before, "no safety backup was spent");

    let restored = run(
        &db,
        &dir,
        &cfg,
        Some(&key),
        &["restore", "latest", "--yes", "--quiet"],
    );
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(street_of_1(&db), "Main Street 1");
    let after = backups_in(&dir);
    assert_eq!(
        after.len(),
        2,
        "the safety backup is encrypted too: {after:?}"
    );
    let safety = after.iter().find(|p| **p != path).unwrap();
    assert!(std::fs::read(safety)
        .unwrap()
        .starts_with(b"age-encryption.org/v1\n"));

    // a damaged encrypted file fails verification as damaged
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let damaged = run(&db, &dir, &cfg, Some(&key), &["verify", &name, "--quiet"]);
    assert_eq!(damaged.status.code(), Some(1), "{}", stderr(&damaged));
    assert!(stderr(&damaged).contains("damaged"), "{}", stderr(&damaged));
}

#[test]
fn encrypted_local_backup_goes_offsite_as_it_is_and_comes_back() {
    let c = cluster();
    let db = c.new_db("localencoff");
    c.psql(&db, &format!("CREATE TABLE {SECRET_TABLE}(id int primary key, street text); INSERT INTO {SECRET_TABLE} SELECT g, 'Main Street ' || g FROM generate_series(1, 500) g"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let nas = tmp.path().join("nas");
    std::fs::create_dir(&nas).unwrap();
    let (key, recipient) = new_key(tmp.path(), "key.txt");
    let cfg = tmp.path().join("pgkeep.toml");
    std::fs::write(
        &cfg,
        format!(
            "encrypt_to = [\"{recipient}\"]\n[verify]\nafter_backup = true\n[[offsite]]\nkind = \"dir\"\npath = \"{}\"\n",
            nas.display()
        ),
    )
    .unwrap();
    // the schedule's run: the verify policy cannot decrypt on this host and says so
    let made = run(&db, &dir, &cfg, None, &["backup", "--scheduled", "--quiet"]);
    let log = format!("{}{}", stdout(&made), stderr(&made));
    assert!(made.status.success(), "{log}");
    assert!(log.contains("no age identity"), "{log}");
    let path = backups_in(&dir).pop().expect("an encrypted backup");
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let push = run(&db, &dir, &cfg, None, &["offsite", "push"]);
    assert!(push.status.success(), "{}", stderr(&push));
    assert_eq!(
        std::fs::read(nas.join(&name)).unwrap(),
        std::fs::read(&path).unwrap()
    );
    let listed = run(&db, &dir, &cfg, None, &["offsite", "list"]);
    assert!(stdout(&listed).contains(&name), "{}", stdout(&listed));

    std::fs::remove_dir_all(&dir).unwrap();
    let pull = run(&db, &dir, &cfg, None, &["offsite", "pull", &name]);
    assert!(pull.status.success(), "{}", stderr(&pull));
    c.psql(&db, &format!("DELETE FROM {SECRET_TABLE}"));
    let restored = run(
        &db,
        &dir,
        &cfg,
        Some(&key),
        &["restore", &name, "--yes", "--quiet", "--no-safety-backup"],
    );
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(street_of_1(&db), "Main Street 1");
}

#[test]
fn a_point_in_time_restore_needs_no_key_and_encrypts_its_safety_backup() {
    let c = pitr_support::ArchivingCluster::start();
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", "CREATE TABLE t(id int primary key)");
    let tmp = tempfile::tempdir().unwrap();
    let (_, recipient) = new_key(tmp.path(), "key.txt");
    let cfg = tmp.path().join("pgkeep.toml");
    std::fs::write(&cfg, format!("encrypt_to = [\"{recipient}\"]\n")).unwrap();
    let cfg = cfg.to_str().unwrap();
    let base = c.pgkeep("shop", &["--config", cfg, "basebackup"]);
    assert!(base.status.success(), "{}", stderr(&base));
    c.psql("shop", "INSERT INTO t SELECT generate_series(1, 10)");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let moment = c.psql("shop", "SELECT now()");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    c.psql("shop", "DELETE FROM t");
    let out = c.pgkeep(
        "shop",
        &[
            "--config", cfg, "restore", "--time", &moment, "--yes", "--quiet",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(c.psql("shop", "SELECT count(*) FROM t"), "10");
    let safety = backups_in(&c.backups);
    assert_eq!(safety.len(), 1, "{safety:?}");
    assert!(std::fs::read(&safety[0])
        .unwrap()
        .starts_with(b"age-encryption.org/v1\n"));
}
