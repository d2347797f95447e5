//! Base backups and WAL pushed to an offsite destination with `encrypt_to`: stored only as
//! `.age` objects with clear checksum companions (no gzip, tar or WAL in clear), and
//! `recover` after the loss of the host fetches and decrypts them with the identity; without
//! it, or with a wrong key, it refuses in one line and changes nothing.

mod common;
mod pitr_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use age::secrecy::ExposeSecret;
use pitr_support::{ok, query_cluster_at, ArchivingCluster};
use sha2::{Digest, Sha256};

/// First two bytes of a PostgreSQL 15 WAL page (XLOG_PAGE_MAGIC 0xD110, little-endian).
const WAL_MAGIC: [u8; 2] = [0x10, 0xd1];

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

fn wait_archived(archive: &Path, seg: &str) {
    for _ in 0..100 {
        if archive.join(seg).exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{seg} was not archived");
}

#[test]
fn encrypted_base_backup_and_wal_offsite_hold_nothing_in_clear_and_recover_with_the_key() {
    let c = ArchivingCluster::start();
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", "CREATE TABLE t(id int primary key)");
    ok(&c.pgkeep("shop", &["basebackup"]), "basebackup");
    c.psql("shop", "INSERT INTO t SELECT generate_series(1, 321)");
    let seg = c.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    let archive = c.archive();
    wait_archived(&archive, &seg);
    let local_wal = std::fs::read(archive.join(&seg)).unwrap();
    assert!(
        local_wal.starts_with(&WAL_MAGIC),
        "the test's WAL magic is wrong"
    );

    let keys = c.dir.join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (identity, recipient) = new_key(&keys, "key.txt");
    let (wrong, _) = new_key(&keys, "other.txt");
    // First pushed in clear; encryption is set up afterwards: the next push replaces the
    // clear copies, and from then on nothing is stored in clear.
    let offsite = common::DirOffsite::new(&c.dir, "");
    let (nas, cfg) = (&offsite.nas, offsite.cfg());
    ok(
        &c.pgkeep("shop", &["--config", cfg, "offsite", "push"]),
        "offsite push in clear",
    );
    assert!(nas
        .join(format!(
            "wal_{}_{seg}",
            archive.file_name().unwrap().to_string_lossy()
        ))
        .is_file());
    offsite.configure(&format!("encrypt_to = [\"{recipient}\"]\n"));
    let pushed = ok(
        &c.pgkeep("shop", &["--config", cfg, "offsite", "push"]),
        "offsite push",
    );
    assert!(pushed.contains("1 base backup(s)"), "{pushed}");
    assert!(
        pushed.contains(
            "clear base backup and WAL copies (made before encrypt_to) replaced by encrypted ones"
        ),
        "{pushed}"
    );

    let sysid = archive.file_name().unwrap().to_string_lossy().into_owned();
    let wal_object = format!("wal_{sysid}_{seg}");
    let mut names = Vec::new();
    for e in std::fs::read_dir(nas).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(e.path()).unwrap();
        if let Some(object) = name.strip_suffix(".sha256") {
            // The clear companion: checksums only, checkable without the key.
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let stored = std::fs::read(nas.join(object)).unwrap();
            assert_eq!(
                v["stored_sha256"].as_str().unwrap(),
                hex::encode(Sha256::digest(&stored)),
                "{name}"
            );
            if object == format!("{wal_object}.age") {
                assert_eq!(
                    v["plain_sha256"].as_str().unwrap(),
                    hex::encode(Sha256::digest(&local_wal))
                );
            }
        } else {
            assert!(name.ends_with(".age"), "{name} is stored in clear");
            assert!(!bytes.starts_with(&[0x1f, 0x8b]), "{name} is plain gzip");
            assert!(!bytes.starts_with(&WAL_MAGIC), "{name} is WAL in clear");
            assert!(
                !bytes.windows(64).any(|w| w == &local_wal[..64]),
                "{name} holds WAL in clear"
            );
            assert!(
                !String::from_utf8_lossy(&bytes).contains("ustar"),
                "{name} is a tar in clear"
            );
        }
        names.push(name);
    }
    for want in [
        format!("{wal_object}.age"),
        format!("{wal_object}.age.sha256"),
    ] {
        assert!(names.contains(&want), "{want} missing in {names:?}");
    }
    assert!(
        names.iter().any(|n| n.ends_with(".tar.gz.age")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.ends_with(".tar.gz.json.age")),
        "{names:?}"
    );
    // Twice copies nothing new.
    let again = ok(
        &c.pgkeep("shop", &["--config", cfg, "offsite", "push"]),
        "offsite push again",
    );
    assert!(!again.contains("base backup(s)"), "{again}");
    let count = std::fs::read_dir(nas).unwrap().count();
    assert_eq!(count, names.len());

    // `offsite check` without the key checks every encrypted base backup and WAL object
    // against its `.age.sha256` companion; a damaged one fails it, named.
    let checked = ok(
        &c.pgkeep("shop", &["--config", cfg, "offsite", "check"]),
        "offsite check",
    );
    assert!(checked.contains("1 base backup(s) and "), "{checked}");
    let damaged = nas.join(
        names
            .iter()
            .find(|n| n.starts_with("wal_") && n.ends_with(".age"))
            .unwrap(),
    );
    let mut bad = std::fs::read(&damaged).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    std::fs::write(&damaged, &bad).unwrap();
    let out = c.pgkeep("shop", &["--config", cfg, "offsite", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    let object = damaged.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        said.lines()
            .any(|l| l.contains(&object) && l.contains("FAILED")),
        "{said}"
    );
    // The fix it names: delete the damaged object, push again; the copy checks out again.
    std::fs::remove_file(&damaged).unwrap();
    ok(
        &c.pgkeep("shop", &["--config", cfg, "offsite", "push"]),
        "offsite push after the damaged WAL object was deleted",
    );
    assert!(
        damaged.is_file(),
        "the deleted WAL object was not copied again"
    );
    ok(
        &c.pgkeep("shop", &["--config", cfg, "offsite", "check"]),
        "offsite check after the push",
    );

    // The host's disk is lost: server, base backups and archive.
    c.crash();
    std::fs::remove_dir_all(c.backups.join("base")).unwrap();
    std::fs::remove_dir_all(c.backups.join("wal")).unwrap();
    let new_home = c.dir.join("new");
    std::fs::create_dir(&new_home).unwrap();
    nix::unistd::chown(
        &new_home,
        nix::unistd::User::from_name("postgres")
            .unwrap()
            .map(|u| u.uid),
        None,
    )
    .unwrap();
    let new_data = new_home.join("data");
    let data = new_data.to_str().unwrap();
    let recover = |extra: &[&str]| {
        let mut args = vec!["--config", cfg, "recover", "--data-dir", data];
        args.extend_from_slice(extra);
        c.pgkeep("shop", &args)
    };

    // Without the key, and with a wrong one: one line, nothing fetched, nothing recovered.
    for (extra, says) in [
        (vec![], "give --identity FILE"),
        (
            vec!["--identity", wrong.to_str().unwrap()],
            "cannot decrypt",
        ),
    ] {
        let out = recover(&extra);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(says), "{err}");
        let errors: Vec<&str> = err.lines().filter(|l| !l.contains("warning:")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].starts_with("pgkeep: error: "), "{err}");
        assert!(!new_data.exists() || std::fs::read_dir(&new_data).unwrap().count() == 0);
        let base = c.backups.join("base");
        // Only the (released) lock file of the pull may stay.
        let left: Vec<String> = std::fs::read_dir(&base)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.ends_with(".lock"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "a partial fetch was left behind: {left:?}");
    }

    let out = recover(&["--identity", identity.to_str().unwrap()]);
    ok(&out, "recover from the encrypted offsite copy");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fetched 1 base backup(s)"));
    assert_eq!(
        std::fs::read(c.backups.join("wal").join(&sysid).join(&seg)).unwrap(),
        local_wal
    );
    assert_eq!(
        query_cluster_at(&new_data, "shop", "SELECT count(*) FROM t"),
        "321"
    );
}
