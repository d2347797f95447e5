//! Rotation over generated two-year histories (with gaps), and `pgkeep prune` on real files.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use pgkeep::config::RetentionConfig;
use pgkeep::engine::catalog::{backup_name, BackupEntry, BackupStatus};
use pgkeep::engine::retention::{plan, Decision, Planned, PRE_RESTORE_LABEL};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn entry(db: &str, t: DateTime<Utc>) -> BackupEntry {
    let name = backup_name(db, t);
    BackupEntry {
        path: PathBuf::from(&name),
        name,
        database: db.into(),
        time: t,
        size: 10,
        label: None,
        status: BackupStatus::NoManifest,
        manifest: None,
    }
}

/// Daily 02:00 UTC backups for two years, newest first, without March 2025, August 2026 and
/// every 5th day of 2025-06.
fn history() -> Vec<BackupEntry> {
    (0..730)
        .map(|d| Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap() - Duration::days(d))
        .filter(|t| !(t.year() == 2025 && t.month() == 3))
        .filter(|t| !(t.year() == 2026 && t.month() == 8))
        .filter(|t| !(t.year() == 2025 && t.month() == 6 && t.day() % 5 == 0))
        .map(|t| entry("facturatie", t))
        .collect()
}

fn kept(p: &[Planned]) -> BTreeSet<String> {
    p.iter()
        .filter(|x| x.decision.is_keep())
        .map(|x| x.entry.name.clone())
        .collect()
}

/// Independent oracle: the newest backup of each of the newest `n` distinct keys.
fn newest_per_key<K: PartialEq>(
    list: &[BackupEntry],
    n: usize,
    key: impl Fn(&BackupEntry) -> K,
) -> Vec<String> {
    let mut out: Vec<(K, String)> = Vec::new();
    for e in list {
        let k = key(e);
        if out.last().map(|(lk, _)| *lk != k).unwrap_or(true) {
            if out.len() == n {
                break;
            }
            out.push((k, e.name.clone()));
        }
    }
    out.into_iter().map(|(_, n)| n).collect()
}

#[test]
fn two_year_history_with_gaps_keeps_exactly_the_restic_set() {
    let list = history();
    let policy = RetentionConfig {
        keep_last: 7,
        keep_daily: 14,
        keep_weekly: 8,
        keep_monthly: 12,
        min_age_hours: 24,
        pre_restore_days: 30,
        keep_base: 2,
    };
    let p = plan(&list, &policy, now(), Tz::UTC);
    let mut expected: BTreeSet<String> = BTreeSet::new();
    expected.extend(list.iter().take(7).map(|e| e.name.clone()));
    expected.extend(newest_per_key(&list, 14, |e| e.time.date_naive()));
    expected.extend(newest_per_key(&list, 8, |e| {
        (e.time.iso_week().year(), e.time.iso_week().week())
    }));
    let months = newest_per_key(&list, 12, |e| (e.time.year(), e.time.month()));
    expected.extend(months.clone());
    assert_eq!(kept(&p), expected);
    // August 2026 has no backup: the 12 monthly keeps reach back to November 2025
    assert!(
        months.last().unwrap().contains("2025-11-30T02"),
        "{months:?}"
    );
    assert!(!months.iter().any(|m| m.contains("2026-08-")));
    let removed = p.iter().filter(|x| !x.decision.is_keep()).count();
    assert_eq!(removed, list.len() - expected.len());
    assert!(removed > 600, "{removed}");
    // the rules are named
    let Decision::Keep(rules) = &p[0].decision else {
        panic!("newest removed")
    };
    assert!(
        rules.contains(&"last 7".to_string()) && rules.contains(&"newest".to_string()),
        "{rules:?}"
    );
}

#[test]
fn safety_rules_hold_over_the_history() {
    let mut list = history();
    let n = list.len();
    // the only verified backup is 600 days old; a damaged and an interrupted one are old too
    list[n - 130].status = BackupStatus::Verified {
        at: now() - Duration::days(1),
    };
    list[n - 140].status = BackupStatus::ChecksumMismatch;
    list[n - 150].status = BackupStatus::Interrupted;
    // pre-restore safety backups: one recent, one old
    let mut recent = entry("facturatie", now() - Duration::days(3) - Duration::hours(5));
    recent.label = Some(PRE_RESTORE_LABEL.into());
    let mut old = entry(
        "facturatie",
        now() - Duration::days(45) - Duration::hours(5),
    );
    old.label = Some(PRE_RESTORE_LABEL.into());
    list.push(recent.clone());
    list.push(old.clone());
    // a burst of hourly backups in the last 20 hours, all younger than min_age
    for h in 1..20 {
        list.push(entry("facturatie", now() - Duration::hours(h)));
    }
    // another database in the same directory is rotated on its own
    list.push(entry("other", now() - Duration::days(500)));
    let policy = RetentionConfig {
        keep_last: 3,
        keep_daily: 5,
        keep_weekly: 0,
        keep_monthly: 6,
        min_age_hours: 24,
        pre_restore_days: 30,
        keep_base: 2,
    };
    let p = plan(&list, &policy, now(), Tz::UTC);
    let k = kept(&p);
    for i in [n - 130, n - 140, n - 150] {
        assert!(k.contains(&list[i].name), "{} was removed", list[i].name);
    }
    assert!(k.contains(&recent.name) && !k.contains(&old.name));
    for h in 1..20 {
        assert!(k.contains(&backup_name("facturatie", now() - Duration::hours(h))));
    }
    assert!(
        k.contains(&backup_name("other", now() - Duration::days(500))),
        "newest of another database"
    );
    // pre-restore backups do not take daily slots: the 5 daily keeps are regular backups
    let daily = p.iter().filter(|x| x.entry.database == "facturatie").filter(|x| matches!(&x.decision, Decision::Keep(r) if r.iter().any(|r| r.starts_with("daily")))).count();
    assert_eq!(daily, 5);
    assert!(p.iter().all(|x| x.entry.label.is_none()
        || !matches!(&x.decision, Decision::Keep(r) if r.iter().any(|r| r.starts_with("daily")))));
}

#[test]
fn several_backups_a_day_keep_the_newest_of_each_day_in_the_zone() {
    // 21:30 and 23:30 UTC each day: in Amsterdam (UTC+2 in October) 23:30 the same day and
    // 01:30 the next day, so the days are cut differently than in UTC.
    let base = Utc.with_ymd_and_hms(2026, 10, 1, 21, 30, 0).unwrap();
    let mut list: Vec<BackupEntry> = (0..10)
        .flat_map(|d| {
            [
                entry("db", base + Duration::days(d)),
                entry("db", base + Duration::days(d) + Duration::hours(2)),
            ]
        })
        .collect();
    list.reverse();
    let policy = RetentionConfig {
        keep_last: 0,
        keep_daily: 3,
        keep_weekly: 0,
        keep_monthly: 0,
        min_age_hours: 0,
        pre_restore_days: 0,
        keep_base: 2,
    };
    let in_utc = kept(&plan(&list, &policy, now(), Tz::UTC));
    assert!(in_utc.iter().all(|n| n.contains("T23-30")), "{in_utc:?}");
    let amsterdam: Tz = "Europe/Amsterdam".parse().unwrap();
    let in_ams = kept(&plan(&list, &policy, now(), amsterdam));
    assert_eq!(in_ams.len(), 3);
    // newest overall (01:30 local on Oct 11), then 23:30 local = 21:30 UTC on the days before
    assert_eq!(
        in_ams.iter().filter(|n| n.contains("T21-30")).count(),
        2,
        "{in_ams:?}"
    );
}

fn write_backup(dir: &Path, t: DateTime<Utc>, with_manifest: bool) -> PathBuf {
    let path = dir.join(backup_name("shop", t));
    std::fs::write(&path, b"not really gzip").unwrap();
    if with_manifest {
        let m = serde_json::json!({
            "format_version": 1, "database": "shop", "server_version": "15", "pg_dump_version": "15",
            "started_at": t, "finished_at": t, "duration_secs": 1.0, "raw_bytes": 10,
            "compressed_bytes": 15, "sha256": "00", "compression_level": 6, "label": null,
            "pgkeep_version": "0.1.0", "tables": [], "verification": null
        });
        std::fs::write(
            format!("{}.json", path.display()),
            serde_json::to_vec(&m).unwrap(),
        )
        .unwrap();
    }
    path
}

fn prune(dir: &Path, args: &[&str]) -> std::process::Output {
    let cfg = dir.join("pgkeep.toml");
    std::fs::write(&cfg, "[retention]\nkeep_last = 2\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nmin_age_hours = 1\n[schedule]\ntimezone = \"UTC\"\n").unwrap();
    Command::new(common::pgkeep_bin())
        .arg("--config")
        .arg(&cfg)
        .arg("--backup-dir")
        .arg(dir)
        .arg("prune")
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn prune_command_dry_run_asks_and_deletes_backup_and_manifest() {
    let d = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let paths: Vec<PathBuf> = (0..5)
        .map(|k| write_backup(d.path(), now - Duration::days(k * 3 + 1), k % 2 == 0))
        .collect();
    let partial = d.path().join(format!(
        "{}.partial",
        backup_name("shop", now - Duration::days(30))
    ));
    std::fs::write(&partial, b"x").unwrap();

    let dry = prune(d.path(), &["--dry-run"]);
    assert!(dry.status.success(), "{}", common::stderr(&dry));
    let out = common::stdout(&dry);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("keep")).count(),
        3,
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("remove")).count(),
        3,
        "{out}"
    );
    assert!(out.contains("nothing was deleted"));
    assert!(paths.iter().all(|p| p.exists()) && partial.exists());

    let json = prune(d.path(), &["--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 6);
    assert_eq!(
        v.as_array()
            .unwrap()
            .iter()
            .filter(|x| x["action"] == "remove")
            .count(),
        3
    );

    let refused = prune(d.path(), &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        common::stderr(&refused).contains("--yes"),
        "{}",
        common::stderr(&refused)
    );
    assert!(paths.iter().all(|p| p.exists()));

    let done = prune(d.path(), &["--yes"]);
    assert!(done.status.success(), "{}", common::stderr(&done));
    let left: BTreeSet<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    let expected: BTreeSet<String> = [
        name(&paths[0]),
        format!("{}.json", name(&paths[0])),
        name(&paths[1]),
        name(&partial),
        "pgkeep.toml".to_string(),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        left, expected,
        "removed backups must go with their manifests, the partial stays"
    );
}
