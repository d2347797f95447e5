//! Point-in-time recovery against real servers: base backup, the WAL archive written through
//! `pgkeep wal archive-command`, `restore --time` bringing back exactly the rows of a moment,
//! refusals that change nothing, a second restore after a first, a scratch server that
//! archives nothing.

mod common;
mod pitr_support;

use std::time::Duration;

use pitr_support::{ok, query_cluster_at, ArchivingCluster};

fn pause() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn restore_to_a_moment_brings_back_exactly_its_rows_twice() {
    let c = ArchivingCluster::start();
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", "CREATE TABLE t(id int primary key, v text)");
    let base = ok(&c.pgkeep("shop", &["basebackup"]), "basebackup");
    assert!(base.trim().ends_with(".tar.gz"), "{base}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", base.trim())).unwrap()).unwrap();
    assert_eq!(manifest["kind"], "base");
    assert_eq!(manifest["verified_by_pg_verifybackup"], true);
    assert!(std::path::Path::new(&format!("{}.backup_manifest", base.trim())).exists());

    c.psql(
        "shop",
        "INSERT INTO t SELECT g, 'first' FROM generate_series(1, 100) g",
    );
    pause();
    let t1 = c.psql("shop", "SELECT now()");
    pause();
    c.psql(
        "shop",
        "INSERT INTO t SELECT g, 'second' FROM generate_series(101, 150) g",
    );
    pause();
    let t2 = c.psql("shop", "SELECT now()");
    pause();
    c.psql("shop", "DELETE FROM t WHERE id % 2 = 0");

    ok(
        &c.pgkeep(
            "shop",
            &["restore", "--time", &t2, "--yes", "--no-safety-backup"],
        ),
        "restore to t2",
    );
    assert_eq!(
        c.psql(
            "shop",
            "SELECT count(*) || '/' || count(*) FILTER (WHERE v = 'second') FROM t"
        ),
        "150/50"
    );
    assert_eq!(c.psql("shop", "SELECT pg_is_in_recovery()"), "f");
    let kept = c.psql(
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'shop_pre_restore_%'",
    );
    assert_eq!(kept, "1", "the replaced database is kept");

    // A second point-in-time restore, to an earlier moment, after the first.
    ok(
        &c.pgkeep(
            "shop",
            &["restore", "--time", &t1, "--yes", "--no-safety-backup"],
        ),
        "restore to t1",
    );
    assert_eq!(c.psql("shop", "SELECT count(*) FROM t"), "100");

    // The scratch servers promoted to timeline 2 but archived nothing into the live archive.
    let names: Vec<String> = std::fs::read_dir(c.archive())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("00000001")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("00000002")),
        "a scratch server archived: {names:?}"
    );
    // And no scratch folder is left behind.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("pgkeep-pitr-{}", std::process::id()))
        })
        .collect();
    assert!(left.is_empty());
}

#[test]
fn targets_outside_the_window_are_refused_before_anything_changes() {
    let c = ArchivingCluster::start();
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", "CREATE TABLE t(id int primary key)");
    let none = c.pgkeep("shop", &["restore", "--time", "latest", "--yes"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("run `pgkeep basebackup` first"));

    let early = c.psql("shop", "SELECT now() - interval '1 hour'");
    ok(&c.pgkeep("shop", &["basebackup"]), "basebackup");
    c.psql("shop", "INSERT INTO t SELECT generate_series(1, 10)");
    let before = c.psql("shop", "SELECT count(*) FROM t");

    let out = c.pgkeep(
        "shop",
        &["restore", "--time", &early, "--yes", "--no-safety-backup"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("before the oldest base backup finished"),
        "{err}"
    );
    assert!(
        err.contains("restorable to any moment from"),
        "the window is named: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(c.psql("shop", "SELECT count(*) FROM t"), before);

    // Lose a segment: switch a few times, let the archiver copy them, checkpoint so the server
    // drops them from pg_wal, then delete one from the archive.
    let mut switched = Vec::new();
    for i in 0..3 {
        c.psql("shop", &format!("INSERT INTO t VALUES ({})", 100 + i));
        switched.push(c.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())"));
    }
    let last = switched.last().unwrap().clone();
    let archive = c.archive();
    for _ in 0..100 {
        if archive.join(&last).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    c.psql("postgres", "CHECKPOINT");
    c.psql("postgres", "CHECKPOINT");
    std::fs::remove_file(archive.join(&switched[1])).unwrap();
    let window = ok(
        &c.pgkeep("shop", &["wal", "window", "--json"]),
        "wal window",
    );
    let w: serde_json::Value = serde_json::from_str(&window).unwrap();
    assert!(
        w["gap"].as_str().unwrap_or("").contains(&switched[1]),
        "{window}"
    );
    // status shows the same window; doctor fails on the gap and names the fix.
    let status = c.pgkeep("shop", &["status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(st["recovery_window"]["gap"], w["gap"]);
    // Lost WAL after the only base backup: no moment can be restored, and status says so
    // (restore --time refuses every moment below).
    let summary = st["recovery_window_summary"].as_str().unwrap();
    assert!(
        summary.starts_with("no point-in-time window: WAL is lost from the archive")
            && summary.contains(&switched[1])
            && summary.contains("pgkeep basebackup"),
        "{summary}"
    );
    assert!(st["recovery_window"]["from"].is_null(), "{st}");
    let doctor = c.pgkeep("shop", &["doctor", "--json"]);
    let d: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let check = d["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "point-in-time window")
        .expect("doctor has the window check")
        .clone();
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains(&switched[1]),
        "{check}"
    );
    assert!(
        check["fix"].as_str().unwrap().contains("pgkeep basebackup"),
        "{check}"
    );

    let count = c.psql("shop", "SELECT count(*) FROM t");
    let out = c.pgkeep(
        "shop",
        &["restore", "--time", "latest", "--yes", "--no-safety-backup"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&switched[1]) && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(c.psql("shop", "SELECT count(*) FROM t"), count);
    let renamed = c.psql(
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'shop\\_%'",
    );
    assert_eq!(renamed, "0", "no scratch or replaced database appeared");
}

#[test]
fn recover_brings_the_whole_cluster_back_into_an_empty_folder() {
    let c = ArchivingCluster::start();
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", "CREATE TABLE t(id int primary key)");
    c.psql("postgres", "CREATE ROLE clerk LOGIN");
    ok(&c.pgkeep("shop", &["basebackup"]), "basebackup");
    c.psql("shop", "INSERT INTO t SELECT generate_series(1, 500)");
    c.psql("postgres", "CREATE DATABASE later");
    let seg = c.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    for _ in 0..100 {
        if c.archive().join(&seg).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let archive = c.archive();
    c.crash();

    // A folder holding a database is refused, and says how to move it aside.
    let data = c.dir.join("data");
    let out = c.pgkeep("shop", &["recover", "--data-dir", data.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("holds a database") && err.contains("mv "),
        "{err}"
    );
    assert!(data.join("PG_VERSION").exists());

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
    let out = ok(
        &c.pgkeep(
            "shop",
            &["recover", "--data-dir", new_data.to_str().unwrap()],
        ),
        "recover",
    );
    assert!(out.contains("recovered cluster"), "{out}");
    let auto = std::fs::read_to_string(new_data.join("postgresql.auto.conf")).unwrap();
    assert!(
        !auto.contains("pgkeep recover"),
        "the temporary settings were removed: {auto}"
    );
    assert!(!new_data.join("recovery.signal").exists());
    let got = query_cluster_at(
        &new_data,
        "shop",
        "SELECT (SELECT count(*) FROM t) || '/' || (SELECT count(*) FROM pg_database WHERE datname = 'later') || '/' || (SELECT count(*) FROM pg_roles WHERE rolname = 'clerk')",
    );
    assert_eq!(got, "500/1/1");
    assert!(archive.is_dir());
}

#[test]
fn base_backups_and_wal_go_offsite_and_recover_fetches_them_after_the_host_is_lost() {
    let c = ArchivingCluster::start();
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", "CREATE TABLE t(id int primary key)");
    ok(&c.pgkeep("shop", &["basebackup"]), "basebackup");
    c.psql("shop", "INSERT INTO t SELECT generate_series(1, 321)");
    let seg = c.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    let archive = c.archive();
    for _ in 0..100 {
        if archive.join(&seg).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let offsite = common::DirOffsite::new(&c.dir, "");
    let (nas, cfg) = (&offsite.nas, offsite.cfg());
    let pushed = ok(
        &c.pgkeep("shop", &["--config", cfg, "offsite", "push"]),
        "offsite push",
    );
    assert!(pushed.contains("1 base backup(s)"), "{pushed}");
    let names: Vec<String> = std::fs::read_dir(nas)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("wal_") && n.ends_with(&seg)),
        "{names:?}"
    );
    // Twice copies nothing new.
    let again = ok(
        &c.pgkeep("shop", &["--config", cfg, "offsite", "push"]),
        "offsite push again",
    );
    assert!(!again.contains("base backup(s)"), "{again}");
    // A scheduled run copies what the archive gained since.
    c.psql("shop", "INSERT INTO t VALUES (1000)");
    let seg2 = c.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    for _ in 0..100 {
        if archive.join(&seg2).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(
        &c.pgkeep(
            "shop",
            &["--config", cfg, "backup", "--scheduled", "--quiet"],
        ),
        "scheduled backup",
    );
    let wal_copy = nas.join(format!(
        "wal_{}_{seg2}",
        archive.file_name().unwrap().to_string_lossy()
    ));
    assert!(wal_copy.exists(), "the scheduled run did not copy {seg2}");

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
    let out = c.pgkeep(
        "shop",
        &[
            "--config",
            cfg,
            "recover",
            "--data-dir",
            new_data.to_str().unwrap(),
        ],
    );
    ok(&out, "recover from offsite");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fetched 1 base backup(s)"));
    assert_eq!(
        query_cluster_at(&new_data, "shop", "SELECT count(*) FROM t"),
        "322"
    );
}
