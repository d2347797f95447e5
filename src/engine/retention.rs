//! Rotation of old backups, in the manner of restic and borg `forget`: keep_last N, and the
//! newest backup of each of the last N days / ISO weeks / months that have backups. Never
//! removed: the newest verified backup, the newest finished one, anything younger than
//! `min_age_hours`, interrupted (`.partial`) or damaged files. `pre-restore` safety backups
//! follow their own rule (`pre_restore_days`). Each database in the directory is rotated on
//! its own. A pure function: entries + policy + now → one decision per entry.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::RetentionConfig;
use crate::engine::catalog::{BackupEntry, BackupStatus};

/// The label of safety backups taken before a restore.
pub const PRE_RESTORE_LABEL: &str = "pre-restore";

/// What happens to one backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "rules", rename_all = "lowercase")]
pub enum Decision {
    /// Kept, with every rule that keeps it ("last 7", "daily 14", "newest verified", ...).
    Keep(Vec<String>),
    /// Removed (with its manifest).
    Remove,
}

impl Decision {
    /// True when the backup is kept.
    pub fn is_keep(&self) -> bool {
        matches!(self, Decision::Keep(_))
    }
}

/// One backup and its decision.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// The backup.
    pub entry: BackupEntry,
    /// What happens to it.
    pub decision: Decision,
}

/// Whether the policy keeps anything by rule (all keep_* zero would mean "delete all").
pub fn policy_is_set(p: &RetentionConfig) -> bool {
    p.keep_last + p.keep_daily + p.keep_weekly + p.keep_monthly > 0
}

/// Decides, for every entry, keep (with rules) or remove. Buckets (days, weeks, months) are
/// counted in `tz`. Order of the result: as given.
pub fn plan(
    entries: &[BackupEntry],
    policy: &RetentionConfig,
    now: DateTime<Utc>,
    tz: Tz,
) -> Vec<Planned> {
    let mut rules: Vec<Vec<String>> = vec![Vec::new(); entries.len()];
    let mut by_db: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        by_db.entry(e.database.as_str()).or_default().push(i);
    }
    for idx in by_db.values_mut() {
        idx.sort_by(|a, b| {
            entries[*b]
                .time
                .cmp(&entries[*a].time)
                .then_with(|| entries[*b].name.cmp(&entries[*a].name))
        });
        plan_database(entries, idx, policy, now, tz, &mut rules);
    }
    entries
        .iter()
        .zip(rules)
        .map(|(e, r)| Planned {
            entry: e.clone(),
            decision: if r.is_empty() {
                Decision::Remove
            } else {
                Decision::Keep(r)
            },
        })
        .collect()
}

fn is_pre_restore(e: &BackupEntry) -> bool {
    e.label.as_deref() == Some(PRE_RESTORE_LABEL)
}

/// `idx`: one database's entries, newest first.
fn plan_database(
    entries: &[BackupEntry],
    idx: &[usize],
    p: &RetentionConfig,
    now: DateTime<Utc>,
    tz: Tz,
    rules: &mut [Vec<String>],
) {
    let finished = |i: &&usize| {
        !matches!(
            entries[**i].status,
            BackupStatus::Interrupted
                | BackupStatus::ChecksumMismatch
                | BackupStatus::DamagedManifest { .. }
        )
    };
    for &i in idx {
        let e = &entries[i];
        match e.status {
            BackupStatus::Interrupted => {
                rules[i].push("unfinished (.partial): not touched by prune".into())
            }
            BackupStatus::ChecksumMismatch | BackupStatus::DamagedManifest { .. } => {
                rules[i].push("damaged: kept for inspection, delete by hand".into())
            }
            _ => {}
        }
        if now - e.time < Duration::hours(p.min_age_hours as i64) {
            rules[i].push(format!("younger than {} h", p.min_age_hours));
        }
        if is_pre_restore(e) && now - e.time < Duration::days(p.pre_restore_days as i64) {
            rules[i].push(format!(
                "pre-restore, younger than {} days",
                p.pre_restore_days
            ));
        }
    }
    if let Some(&i) = idx
        .iter()
        .find(|i| matches!(entries[**i].status, BackupStatus::Verified { .. }))
    {
        rules[i].push("newest verified".into());
    }
    let regular: Vec<usize> = idx
        .iter()
        .filter(finished)
        .filter(|i| !is_pre_restore(&entries[**i]))
        .copied()
        .collect();
    if let Some(&i) = regular.first() {
        rules[i].push("newest".into());
    }
    for (i, _) in regular.iter().enumerate().take(p.keep_last as usize) {
        rules[regular[i]].push(format!("last {}", p.keep_last));
    }
    let local = |i: usize| entries[i].time.with_timezone(&tz);
    bucket_rule(
        &regular,
        p.keep_daily,
        &format!("daily {}", p.keep_daily),
        |i| {
            let t = local(i);
            (t.year(), t.ordinal())
        },
        rules,
    );
    bucket_rule(
        &regular,
        p.keep_weekly,
        &format!("weekly {}", p.keep_weekly),
        |i| {
            let w = local(i).iso_week();
            (w.year(), w.week())
        },
        rules,
    );
    bucket_rule(
        &regular,
        p.keep_monthly,
        &format!("monthly {}", p.keep_monthly),
        |i| {
            let t = local(i);
            (t.year(), t.month())
        },
        rules,
    );
}

/// Keeps the newest backup of each of the newest `n` buckets that have backups.
fn bucket_rule(
    regular: &[usize],
    n: u32,
    name: &str,
    key: impl Fn(usize) -> (i32, u32),
    rules: &mut [Vec<String>],
) {
    let mut last_key = None;
    let mut kept = 0;
    for &i in regular {
        if kept >= n {
            break;
        }
        let k = key(i);
        if last_key != Some(k) {
            rules[i].push(name.to_string());
            last_key = Some(k);
            kept += 1;
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Names removed.
    pub removed: Vec<String>,
    /// Names that could not be removed, with why.
    pub failed: Vec<(String, String)>,
}

/// Deletes every backup the plan removes: the file, then its manifest and globals file.
pub fn apply(plan: &[Planned]) -> Applied {
    let mut out = Applied::default();
    for p in plan.iter().filter(|p| !p.decision.is_keep()) {
        let e = &p.entry;
        // The dump first (a manifest without its dump is a leftover the next backup removes),
        // then the rest of the unit (manifest, globals).
        let res = std::fs::remove_file(&e.path).and_then(|_| {
            crate::engine::catalog::unit_files(&e.path)
                .iter()
                .skip(1)
                .try_for_each(|f| match std::fs::remove_file(f) {
                    Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
                    _ => Ok(()),
                })
        });
        match res {
            Ok(()) => out.removed.push(e.name.clone()),
            Err(err) => out.failed.push((e.name.clone(), err.to_string())),
        }
    }
    if let Some(dir) = plan.first().and_then(|p| p.entry.path.parent()) {
        let _ = crate::engine::fsutil::fsync_dir(dir);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn entry(t: DateTime<Utc>, status: BackupStatus, label: Option<&str>) -> BackupEntry {
        let name = crate::engine::catalog::backup_name("shop", t);
        BackupEntry {
            path: PathBuf::from(&name),
            name,
            database: "shop".into(),
            time: t,
            size: 1,
            label: label.map(String::from),
            status,
            manifest: None,
        }
    }

    fn policy() -> RetentionConfig {
        RetentionConfig {
            keep_last: 3,
            keep_daily: 7,
            keep_weekly: 4,
            keep_monthly: 12,
            min_age_hours: 24,
            pre_restore_days: 30,
            keep_base: 2,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn recent_backups_and_safety_rules_are_kept() {
        let n = now();
        let list = vec![
            entry(n - Duration::hours(1), BackupStatus::Interrupted, None),
            entry(n - Duration::hours(2), BackupStatus::NoManifest, None),
            entry(
                n - Duration::days(400),
                BackupStatus::Verified { at: n },
                None,
            ),
            entry(
                n - Duration::days(401),
                BackupStatus::ChecksumMismatch,
                None,
            ),
            entry(
                n - Duration::days(10),
                BackupStatus::Complete,
                Some(PRE_RESTORE_LABEL),
            ),
            entry(
                n - Duration::days(40),
                BackupStatus::Complete,
                Some(PRE_RESTORE_LABEL),
            ),
        ];
        let p = plan(&list, &policy(), n, Tz::UTC);
        let keep: Vec<bool> = p.iter().map(|x| x.decision.is_keep()).collect();
        assert_eq!(keep, [true, true, true, true, true, false]);
        let Decision::Keep(r) = &p[2].decision else {
            panic!()
        };
        assert!(r.contains(&"newest verified".to_string()), "{r:?}");
    }

    #[test]
    fn restic_semantics_count_buckets_with_backups() {
        // several backups a day for 3 days: daily keeps the newest of each day only
        let n = now();
        let list: Vec<BackupEntry> = (0..9)
            .map(|k| {
                entry(
                    n - Duration::days(2) - Duration::hours(k * 8 / 3 + 30),
                    BackupStatus::NoManifest,
                    None,
                )
            })
            .collect();
        let p = plan(
            &list,
            &RetentionConfig {
                keep_last: 0,
                keep_daily: 2,
                keep_weekly: 0,
                keep_monthly: 0,
                min_age_hours: 0,
                pre_restore_days: 0,
                keep_base: 2,
            },
            n,
            Tz::UTC,
        );
        let kept: Vec<&Planned> = p.iter().filter(|x| x.decision.is_keep()).collect();
        assert_eq!(kept.len(), 2, "{p:#?}");
        assert_eq!(kept[0].entry.name, list[0].name);
    }
}
