//! Encrypted offsite copies (`encrypt_to`) against real parts: real backups of a real
//! PostgreSQL database, a directory destination and S3 through `moto_server` (skipped with a
//! note when it is not installed), keys made with the age crate, and the `age` CLI to show a
//! copy decrypts by hand when it is installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use age::secrecy::ExposeSecret;
use common::{cluster, pgkeep, stderr, stdout, DirOffsite};

const SECRET_TABLE: &str = "customer_addresses_secret";

fn new_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "# public key: {recipient}\n{}\n",
            id.to_string().expose_secret()
        ),
    )
    .unwrap();
    (path, recipient)
}

fn new_database() -> String {
    let c = cluster();
    let db = c.new_db("enc");
    c.psql(&db, &format!("CREATE TABLE {SECRET_TABLE}(id int primary key, street text); INSERT INTO {SECRET_TABLE} SELECT g, 'Main Street ' || g FROM generate_series(1, 2000) g"));
    db
}

fn backup(db: &str, dir: &Path) -> PathBuf {
    let out = pgkeep(db, dir, &["backup", "--quiet"]);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    PathBuf::from(stdout(&out).trim())
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// `pgkeep --config CFG offsite ARGS… --identity KEY`.
fn offsite_with_key(
    db: &str,
    dir: &Path,
    cfg: &str,
    args: &[&str],
    key: &Path,
) -> std::process::Output {
    let mut all = vec!["--config", cfg, "offsite"];
    all.extend_from_slice(args);
    all.extend(["--identity", key.to_str().unwrap()]);
    pgkeep(db, dir, &all)
}

/// `offsite check` with the key succeeds (every copy checks out, the newest decrypts).
fn assert_check_passes(db: &str, dir: &Path, cfg: &str, key: &Path) {
    let check = offsite_with_key(db, dir, cfg, &["check"], key);
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
}

fn assert_nothing_in_clear(files: &[(String, Vec<u8>)]) {
    assert!(!files.is_empty(), "nothing was stored");
    for (name, bytes) in files {
        assert!(!bytes.starts_with(&[0x1f, 0x8b]), "{name} is plain gzip");
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(SECRET_TABLE) && !text.contains("Main Street"),
            "{name} shows table names or data in clear"
        );
    }
}

#[test]
fn encrypted_dir_copy_pull_restore_check_and_wrong_key() {
    let db = new_database();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let (key, recipient) = new_key(tmp.path(), "key.txt");
    let (wrong, _) = new_key(tmp.path(), "wrong.txt");
    let offsite = DirOffsite::new(tmp.path(), &format!("encrypt_to = [\"{recipient}\"]\n"));
    let (nas, cfg_s) = (&offsite.nas, offsite.cfg());
    let key_s = key.to_str().unwrap();
    let made = backup(&db, &dir);
    let name = name_of(&made);
    let original = std::fs::read(&made).unwrap();
    let manifest = std::fs::read(format!("{}.json", made.display())).unwrap();

    let push = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "push"]);
    assert!(push.status.success(), "{}", stderr(&push));
    let stored: Vec<(String, Vec<u8>)> = files_in(nas)
        .iter()
        .map(|p| (name_of(p), std::fs::read(p).unwrap()))
        .collect();
    let names: Vec<&str> = stored.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            format!("{name}.age"),
            format!("{name}.envelope.json"),
            format!("{name}.globals.sql.age"),
            format!("{name}.json.age")
        ],
        "the dump, its globals file and manifest encrypted, one clear envelope"
    );
    assert_nothing_in_clear(&stored);
    assert!(stored[0].1.starts_with(b"age-encryption.org/v1\n"));
    let env: serde_json::Value = serde_json::from_slice(&stored[1].1).unwrap();
    assert_eq!(env["encrypted_to"][0], recipient.as_str());
    assert_eq!(env["files"][0]["plain_bytes"], original.len() as u64);
    assert_eq!(env["files"][0]["stored_bytes"], stored[0].1.len() as u64);

    // the age CLI decrypts the copy by hand, when it is installed
    if let Ok(out) = Command::new("age")
        .args(["-d", "-i", key_s])
        .arg(nas.join(format!("{name}.age")))
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, original, "age -d gives back the .sql.gz");
    }

    // checks without the key, then a recorded test decryption with it
    let doctor_before = stdout(&pgkeep(&db, &dir, &["--config", cfg_s, "doctor"]));
    assert!(
        doctor_before.contains("no test decryption was recorded"),
        "{doctor_before}"
    );
    let check = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("stored sha256 matches"),
        "{}",
        stdout(&check)
    );
    let tested = pgkeep(
        &db,
        &dir,
        &["--config", cfg_s, "offsite", "check", "--identity", key_s],
    );
    assert!(tested.status.success(), "{}", stderr(&tested));
    assert!(
        stdout(&tested).contains("decrypted in full"),
        "{}",
        stdout(&tested)
    );
    assert!(dir.join("decryption-checks.json").exists());
    let doctor_after = stdout(&pgkeep(&db, &dir, &["--config", cfg_s, "doctor"]));
    assert!(
        !doctor_after.contains("no test decryption was recorded"),
        "{doctor_after}"
    );

    // lose the local copy; pull needs the key, refuses a wrong one in one line
    std::fs::remove_file(&made).unwrap();
    std::fs::remove_file(format!("{}.json", made.display())).unwrap();
    std::fs::remove_file(format!("{}.globals.sql", made.display())).unwrap();
    let no_key = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "pull", &name]);
    assert_eq!(no_key.status.code(), Some(1));
    assert!(
        stderr(&no_key).contains("--identity"),
        "{}",
        stderr(&no_key)
    );
    let bad = pgkeep(
        &db,
        &dir,
        &[
            "--config",
            cfg_s,
            "offsite",
            "pull",
            &name,
            "--identity",
            wrong.to_str().unwrap(),
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(stderr(&bad).trim().lines().count(), 1, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("cannot decrypt"), "{}", stderr(&bad));
    assert!(
        files_in(&dir)
            .iter()
            .all(|p| !name_of(p).contains(".sql.gz")),
        "a refused pull leaves nothing: {:?}",
        files_in(&dir)
    );
    let pull = pgkeep(
        &db,
        &dir,
        &[
            "--config",
            cfg_s,
            "offsite",
            "pull",
            &name,
            "--identity",
            key_s,
        ],
    );
    assert!(pull.status.success(), "{}", stderr(&pull));
    assert_eq!(std::fs::read(&made).unwrap(), original, "byte for byte");
    assert_eq!(
        std::fs::read(format!("{}.json", made.display())).unwrap(),
        manifest
    );

    // restore straight from the offsite copy (fetched and decrypted with the identity)
    std::fs::remove_file(&made).unwrap();
    std::fs::remove_file(format!("{}.json", made.display())).unwrap();
    std::fs::remove_file(format!("{}.globals.sql", made.display())).unwrap();
    cluster().psql(&db, &format!("DELETE FROM {SECRET_TABLE} WHERE id > 10"));
    let restore = common::pgkeep_cmd(
        &db,
        &dir,
        &[
            "--config",
            cfg_s,
            "restore",
            &name,
            "--yes",
            "--no-safety-backup",
            "--quiet",
        ],
    )
    .env("PGKEEP_AGE_IDENTITY", &key)
    .output()
    .unwrap();
    assert!(restore.status.success(), "{}", stderr(&restore));
    assert_eq!(
        cluster().psql(&db, &format!("SELECT count(*) FROM {SECRET_TABLE}")),
        "2000"
    );

    // a damaged stored copy is caught without the key
    let sealed = nas.join(format!("{name}.age"));
    let mut bytes = std::fs::read(&sealed).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&sealed, bytes).unwrap();
    let damaged = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "check"]);
    assert_eq!(damaged.status.code(), Some(1));
    assert!(stdout(&damaged).contains("FAILED"), "{}", stdout(&damaged));
}

#[test]
fn encrypted_s3_copy_against_moto_server() {
    let Some(moto) = common::moto::Moto::start("pgkeep-enc") else {
        return;
    };
    let port = moto.port;

    let db = new_database();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let (key, recipient) = new_key(tmp.path(), "key.txt");
    let cfg = tmp.path().join("pgkeep.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[offsite]]\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\nbucket = \"pgkeep-enc\"\n\
             prefix = \"shop\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\nencrypt_to = [\"{recipient}\"]\n"
        ),
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let made = backup(&db, &dir);
    let name = name_of(&made);
    let original = std::fs::read(&made).unwrap();
    let push = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "push", &name]);
    assert!(push.status.success(), "{}", stderr(&push));

    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name("pgkeep-enc")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut stored = Vec::new();
    for obj in [
        format!("{name}.age"),
        format!("{name}.json.age"),
        format!("{name}.envelope.json"),
    ] {
        use object_store::ObjectStore;
        let path = object_store::path::Path::from(format!("shop/{obj}"));
        let body = rt.block_on(async { s3.get(&path).await.unwrap().bytes().await.unwrap() });
        stored.push((obj, body.to_vec()));
    }
    assert!(stored[0].1.starts_with(b"age-encryption.org/v1"));
    assert_nothing_in_clear(&stored);
    let listing = moto.http("GET /pgkeep-enc?list-type=2&prefix=shop/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assert!(
        !listing.contains(&format!("shop/{name}<")),
        "no plain dump object: {listing}"
    );

    std::fs::remove_file(&made).unwrap();
    std::fs::remove_file(format!("{}.json", made.display())).unwrap();
    std::fs::remove_file(format!("{}.globals.sql", made.display())).unwrap();
    let list = pgkeep(&db, &dir, &["--config", cfg_s, "offsite", "list"]);
    assert!(
        stdout(&list)
            .lines()
            .any(|l| l.starts_with("offsite") && l.contains(&name)),
        "{}",
        stdout(&list)
    );
    let pull = offsite_with_key(&db, &dir, cfg_s, &["pull", &name], &key);
    assert!(pull.status.success(), "{}", stderr(&pull));
    assert_eq!(std::fs::read(&made).unwrap(), original);
}

#[test]
fn prune_removes_every_object_of_an_encrypted_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    std::fs::create_dir_all(&dir).unwrap();
    let (_, recipient) = new_key(tmp.path(), "key.txt");
    let offsite = DirOffsite::new(
        tmp.path(),
        &format!("encrypt_to = [\"{recipient}\"]\n[retention]\nkeep_last = 1\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nmin_age_hours = 0\n"),
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
        for suffix in [".age", ".json.age", ".globals.sql.age", ".envelope.json"] {
            std::fs::write(nas.join(format!("{n}{suffix}")), b"x").unwrap();
        }
    }
    let out = Command::new(common::pgkeep_bin())
        .arg("--config")
        .arg(cfg)
        .arg("--backup-dir")
        .arg(&dir)
        .args(["prune", "--yes"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut left: Vec<String> = files_in(nas).iter().map(|p| name_of(p)).collect();
    left.sort();
    let n = &names[0];
    assert_eq!(
        left,
        vec![
            format!("{n}.age"),
            format!("{n}.envelope.json"),
            format!("{n}.globals.sql.age"),
            format!("{n}.json.age"),
        ]
    );
}

/// The start of the tests of clear copies: a database, its backup folder and a directory
/// destination without `encrypt_to` holding one backup copied in clear (`first`).
struct ClearStart {
    db: String,
    tmp: tempfile::TempDir,
    dir: PathBuf,
    offsite: DirOffsite,
    first: String,
}

impl ClearStart {
    fn new() -> ClearStart {
        let db = new_database();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("db_backups");
        let offsite = DirOffsite::new(tmp.path(), "");
        let first = name_of(&backup(&db, &dir));
        let push = pgkeep(&db, &dir, &["--config", offsite.cfg(), "offsite", "push"]);
        assert!(push.status.success(), "{}", stderr(&push));
        assert!(
            offsite.nas.join(&first).is_file(),
            "{:?}",
            files_in(&offsite.nas)
        );
        ClearStart {
            db,
            tmp,
            dir,
            offsite,
            first,
        }
    }
}

#[test]
fn clear_copies_made_before_encrypt_to_are_replaced_by_encrypted_ones() {
    let start = ClearStart::new();
    let (db, dir, offsite, first) = (&start.db, &start.dir, &start.offsite, start.first.clone());
    let (nas, cfg_s) = (&offsite.nas, offsite.cfg());
    // One more, copied in clear, then gone from this host (retention, a lost disk).
    let gone = backup(db, dir);
    let push = pgkeep(db, dir, &["--config", cfg_s, "offsite", "push"]);
    assert!(push.status.success(), "{}", stderr(&push));
    for f in files_in(dir) {
        if name_of(&f).starts_with(&name_of(&gone)) {
            std::fs::remove_file(f).unwrap();
        }
    }

    // Encryption is set up later: the next push replaces the clear copy.
    let (key, recipient) = new_key(start.tmp.path(), "key.txt");
    offsite.configure(&format!("encrypt_to = [\"{recipient}\"]\n"));
    // Backup names have a resolution of one second: not the name of the one just removed.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = name_of(&backup(db, dir));
    let push = pgkeep(db, dir, &["--config", cfg_s, "offsite", "push"]);
    assert!(push.status.success(), "{}", stderr(&push));
    let said = stdout(&push);
    assert!(
        said.contains(&format!("copied {first} to"))
            && said.contains(&format!("copied {second} to"))
            && said.contains(&format!("deleted the clear copy of {first}"))
            && said.contains("1 copies made before encrypt_to are still in clear there"),
        "{said}"
    );
    // What that line says to do by hand.
    for f in files_in(nas) {
        if name_of(&f).starts_with(&name_of(&gone)) {
            std::fs::remove_file(f).unwrap();
        }
    }
    let stored: Vec<(String, Vec<u8>)> = files_in(nas)
        .iter()
        .map(|p| (name_of(p), std::fs::read(p).unwrap()))
        .collect();
    assert_nothing_in_clear(&stored);
    for (name, _) in &stored {
        assert!(
            name.ends_with(".age") || name.ends_with(".envelope.json"),
            "{name} is left in clear"
        );
    }
    // Nothing more to do the next time; both copies check out and the older one restores.
    let again = pgkeep(db, dir, &["--config", cfg_s, "offsite", "push"]);
    assert!(
        stdout(&again).contains("0 copied") && !stdout(&again).contains("deleted"),
        "{}",
        stdout(&again)
    );
    assert_check_passes(db, dir, cfg_s, &key);
    std::fs::remove_dir_all(dir).unwrap();
    let pull = offsite_with_key(db, dir, cfg_s, &["pull", &first], &key);
    assert!(pull.status.success(), "{}", stderr(&pull));
    assert!(dir.join(&first).is_file());
}

/// A scheduled run does what `offsite push` does besides copying the new backup: it copies
/// backups an earlier run could not (the destination was not configured or down) and
/// replaces clear copies made before `encrypt_to` was set, so nobody has to remember a
/// manual push.
#[test]
fn scheduled_run_catches_up_and_replaces_clear_copies() {
    let start = ClearStart::new();
    let (db, dir, offsite, copied_clear) =
        (&start.db, &start.dir, &start.offsite, start.first.clone());
    let (nas, cfg_s) = (&offsite.nas, offsite.cfg());
    // Made while the destination was unreachable: never copied.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let missed = name_of(&backup(db, dir));

    let (key, recipient) = new_key(start.tmp.path(), "key.txt");
    offsite.configure(&format!("encrypt_to = [\"{recipient}\"]\n"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let run = pgkeep(db, dir, &["--config", cfg_s, "backup", "--scheduled"]);
    let said = stdout(&run);
    assert!(run.status.success(), "{said}{}", stderr(&run));
    assert!(
        said.contains("1 earlier backup missing at")
            && said.contains(&missed)
            && said.contains("1 backup at")
            && said.contains(
                "had a clear copy (made before encrypt_to): replaced by an encrypted one"
            ),
        "{said}"
    );
    let earlier = said.lines().find(|l| l.contains("earlier backup")).unwrap();
    assert!(
        earlier.contains(&missed) && !earlier.contains(&copied_clear),
        "only the missed one was missing: {earlier}"
    );
    let stored: Vec<(String, Vec<u8>)> = files_in(nas)
        .iter()
        .map(|p| (name_of(p), std::fs::read(p).unwrap()))
        .collect();
    assert_nothing_in_clear(&stored);
    let sealed = |n: &str| stored.iter().any(|(s, _)| s == &format!("{n}.age"));
    assert!(sealed(&copied_clear) && sealed(&missed), "{stored:?}");
    assert_eq!(
        stored
            .iter()
            .filter(|(n, _)| n.ends_with(".sql.gz.age"))
            .count(),
        3,
        "the new backup, the missed one and the resealed one: {:?}",
        stored.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    assert_check_passes(db, dir, cfg_s, &key);
}
