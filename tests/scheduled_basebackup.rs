//! `pgkeep basebackup --scheduled` on a real archiving cluster: base backup, offsite copy of
//! base backups and WAL, prune to `[retention] keep_base` without touching the WAL a kept base
//! backup needs, the outcome recorded; a failed run alerts nothing away and prunes nothing.

mod common;
mod pitr_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use pitr_support::ArchivingCluster;

fn names_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(names_under(&p));
        } else {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

fn base_backups(backups: &Path) -> Vec<String> {
    names_under(&backups.join("base"))
        .into_iter()
        .filter(|n| n.ends_with(".tar.gz"))
        .collect()
}

fn scheduled(c: &ArchivingCluster, config: &Path) -> std::process::Output {
    let cfg = config.to_str().unwrap();
    c.pgkeep("shop", &["--config", cfg, "basebackup", "--scheduled"])
}

#[test]
fn scheduled_base_backups_go_offsite_and_keep_only_keep_base_with_their_wal() {
    let c = ArchivingCluster::start();
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", "CREATE TABLE t(id int)");
    let offsite = tempfile::tempdir().unwrap();
    let config: PathBuf = c.dir.join("pgkeep.toml");
    std::fs::write(
        &config,
        format!(
            "[retention]\nkeep_base = 2\n\n[[offsite]]\nkind = \"dir\"\npath = \"{}\"\n",
            offsite.path().display()
        ),
    )
    .unwrap();

    let mut starts = Vec::new();
    let mut made = Vec::new();
    let mut last_stdout = String::new();
    for i in 0..3 {
        c.psql("shop", &format!("INSERT INTO t VALUES ({i})"));
        c.psql("postgres", "SELECT pg_switch_wal()");
        let out = scheduled(&c, &config);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "run {i}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("base backup ok: "), "{stdout}");
        assert!(stdout.contains("offsite ok: "), "{stdout}");
        assert!(stdout.contains("prune ok: "), "{stdout}");
        let newest = base_backups(&c.backups).last().cloned().unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(c.backups.join("base").join(format!("{newest}.json"))).unwrap(),
        )
        .unwrap();
        starts.push(manifest["start_lsn"].as_str().unwrap().to_string());
        made.push(newest);
        last_stdout = stdout;
        std::thread::sleep(Duration::from_millis(1100)); // distinct names (seconds)
    }

    // Only the newest two base backups are kept here.
    let kept = base_backups(&c.backups);
    assert_eq!(kept.len(), 2, "{kept:?}");
    // The WAL the oldest kept base backup needs is still there; older segments are gone.
    let seg_of = |lsn: &str| {
        let (hi, lo) = lsn.split_once('/').unwrap();
        let lo = u64::from_str_radix(lo, 16).unwrap();
        format!(
            "00000001{:08X}{:08X}",
            u64::from_str_radix(hi, 16).unwrap(),
            lo >> 24
        )
    };
    let needed = seg_of(&starts[1]);
    let archive = names_under(&c.archive());
    let segments: Vec<&String> = archive.iter().filter(|n| n.len() == 24).collect();
    assert!(
        segments.iter().any(|n| **n == needed),
        "{needed} missing: {archive:?}"
    );
    assert!(
        segments.iter().all(|n| n.as_str() >= needed.as_str()),
        "segments older than {needed} left: {archive:?}"
    );
    // The first base backup's segment is gone (it was only needed by the pruned base backup).
    assert!(
        !segments.iter().any(|n| **n == seg_of(&starts[0])),
        "{archive:?}"
    );

    // Offsite, keep_base applies too, by the same rule: the two newest base backups, and
    // only the WAL they need.
    let there = names_under(offsite.path());
    let there_bases: Vec<&String> = there.iter().filter(|n| n.ends_with(".tar.gz")).collect();
    assert_eq!(there_bases, kept.iter().collect::<Vec<_>>(), "{there:?}");
    assert!(
        !there.iter().any(|n| n.starts_with(&made[0])),
        "the pruned base backup's manifests are still offsite: {there:?}"
    );
    assert!(
        last_stdout.contains("removed 1 old base backup(s) and")
            && last_stdout.contains(&format!("at dir {}", offsite.path().display())),
        "{last_stdout}"
    );
    let wal_there: Vec<&str> = there
        .iter()
        .filter_map(|n| n.strip_prefix("wal_")?.split_once('_').map(|(_, f)| f))
        .filter(|f| f.len() == 24)
        .collect();
    assert!(wal_there.contains(&needed.as_str()), "{there:?}");
    assert!(
        wal_there.iter().all(|f| *f >= needed.as_str()),
        "WAL older than {needed} left offsite: {there:?}"
    );

    // `offsite check` checks base backups and WAL against their checksum files; one damaged
    // WAL object fails it, named, with the fix in one line.
    let cfg = config.to_str().unwrap();
    let checked = c.pgkeep("shop", &["--config", cfg, "offsite", "check"]);
    let said = String::from_utf8_lossy(&checked.stdout).into_owned();
    assert!(
        checked.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        said.contains(&format!(
            "2 base backup(s) and {} WAL file(s) ok",
            there
                .iter()
                .filter(|n| n.starts_with("wal_") && !n.ends_with(".sha256"))
                .count()
        )),
        "{said}{there:?}"
    );
    let victim = offsite.path().join(
        there
            .iter()
            .find(|n| n.starts_with("wal_") && n.ends_with(&needed))
            .unwrap(),
    );
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let checked = c.pgkeep("shop", &["--config", cfg, "offsite", "check"]);
    assert_eq!(checked.status.code(), Some(1));
    let said = String::from_utf8_lossy(&checked.stdout).into_owned();
    let victim_name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        said.lines()
            .any(|l| l.contains(&victim_name) && l.contains("FAILED") && l.contains("sha256")),
        "{said}"
    );
    let err = String::from_utf8_lossy(&checked.stderr).into_owned();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("1 offsite copies failed the check") && err.contains("offsite push"),
        "{err}"
    );
    // The fix it names: delete the damaged object, push again; the copy is whole again.
    std::fs::remove_file(&victim).unwrap();
    let pushed = c.pgkeep("shop", &["--config", cfg, "offsite", "push"]);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let local = c.archive().join(&needed);
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        std::fs::read(local).unwrap()
    );
    let checked = c.pgkeep("shop", &["--config", cfg, "offsite", "check"]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );

    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(c.backups.join(".pgkeep-last-scheduled-base.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["ok"], true, "{record}");
    assert!(
        record["message"].as_str().unwrap().contains(&kept[1]),
        "{record}"
    );

    // A failed scheduled run: non-zero exit, recorded, nothing pruned.
    c.crash();
    let failed = scheduled(&c, &config);
    assert!(!failed.status.success());
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert!(stdout.contains("base backup FAILED"), "{stdout}");
    assert!(
        !String::from_utf8_lossy(&failed.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    assert_eq!(base_backups(&c.backups), kept);
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(c.backups.join(".pgkeep-last-scheduled-base.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["ok"], false, "{record}");
}
