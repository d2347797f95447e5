//! The recoverable window as a line of time, for the console's timeline bar and its "restore
//! to a moment" dialog: the base backups of the cluster, the archived segments in WAL order
//! from the oldest base backup's start (each with the time it was archived, holes as None),
//! and [`PitrTimeline::plan`], which says for a moment what `restore --time` will do — the
//! base backup it picks, the segments it replays — or why it refuses, by the engine's rules.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::engine::physical::base_catalog::{self, BaseBackup};
use crate::engine::physical::cluster::{self, ClusterFacts};
use crate::engine::physical::continuity::ArchiveContents;
use crate::engine::physical::target_time::TargetTime;
use crate::engine::physical::walseg::Segment;
use crate::engine::physical::window::{local, RecoveryWindow};
use crate::target::Target;

/// One base backup of the cluster, as the timeline shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseMark {
    /// File name (`<sysid>_<time>.tar.gz`).
    pub name: String,
    /// When it finished: targets must be later.
    pub finished_at: DateTime<Utc>,
    /// Position of its first WAL segment in [`PitrTimeline::run`].
    pub start_pos: usize,
}

/// The cluster's base backups and archive in WAL order.
#[derive(Debug, Clone, PartialEq)]
pub struct PitrTimeline {
    /// The window as `status` words it.
    pub window: RecoveryWindow,
    /// Base backups of this cluster, oldest first.
    pub bases: Vec<BaseMark>,
    /// From the oldest base backup's first segment to the newest archived one: when each
    /// segment was archived, None for a hole.
    pub run: Vec<Option<DateTime<Utc>>>,
}

/// What a restore to a moment will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The moment (the clock's now for `latest`).
    pub target: DateTime<Utc>,
    /// The base backup it starts from.
    pub base: String,
    /// When that base backup finished.
    pub base_finished: DateTime<Utc>,
    /// WAL segments replayed from the archive.
    pub segments: usize,
    /// The moment is newer than the newest archived change: pgkeep switches WAL and waits
    /// for the archiver (or reads the server's pg_wal) first.
    pub beyond_archive: bool,
}

/// How one moment of the bar looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// Before the oldest base backup finished.
    Before,
    /// Restorable from the archive.
    Covered,
    /// Restorable once the newest WAL is archived (pgkeep does that first).
    Pending,
    /// WAL of this moment is missing from the archive.
    Gap,
    /// Archived, but a hole after it stops recovery from the base backup before it.
    Blocked,
}

impl PitrTimeline {
    /// Builds the timeline from base backups (any cluster; others are left out), the
    /// cluster's archive contents and its window.
    pub fn new(
        window: RecoveryWindow,
        bases: &[BaseBackup],
        contents: &ArchiveContents,
        timeline: u32,
    ) -> PitrTimeline {
        let mut bases: Vec<&BaseBackup> = bases
            .iter()
            .filter(|b| b.manifest.system_identifier == window.system_identifier)
            .filter(|b| b.manifest.start_segment().is_some())
            .collect();
        bases.sort_by_key(|b| b.manifest.finished_at);
        let starts: Vec<Segment> = bases
            .iter()
            .filter_map(|b| b.manifest.start_segment())
            .collect();
        let Some(first) = starts.iter().min().copied() else {
            return PitrTimeline {
                window,
                bases: Vec::new(),
                run: Vec::new(),
            };
        };
        let mut order: Vec<Segment> = Vec::new();
        for (tl, a, b) in contents.chain(first, timeline) {
            let newest = contents
                .segments
                .keys()
                .filter(|s| s.timeline == tl)
                .map(|s| s.number + 1)
                .max()
                .unwrap_or(a);
            let end = b.unwrap_or(newest).max(a);
            order.extend((a..end).map(|number| Segment {
                timeline: tl,
                number,
            }));
        }
        let mut run: Vec<Option<DateTime<Utc>>> = order
            .iter()
            .map(|s| contents.segments.get(s).copied())
            .collect();
        while run.last().is_some_and(|t| t.is_none()) {
            run.pop();
        }
        let marks = bases
            .iter()
            .zip(&starts)
            .map(|(b, s)| BaseMark {
                name: b.name.clone(),
                finished_at: b.manifest.finished_at,
                start_pos: order.iter().position(|o| o == s).unwrap_or(order.len()),
            })
            .collect();
        PitrTimeline {
            window,
            bases: marks,
            run,
        }
    }

    /// The newest archived change: when the last segment of the run was archived.
    pub fn newest_archived(&self) -> Option<DateTime<Utc>> {
        self.run.iter().rev().find_map(|t| *t)
    }

    /// The first hole at or after position `from`.
    fn hole_after(&self, from: usize) -> Option<usize> {
        (from..self.run.len()).find(|&i| self.run[i].is_none())
    }

    /// What restoring to `time` does at `now`, or the one-line reason it is refused (the
    /// engine refuses the same moments, before changing anything).
    pub fn plan(&self, time: TargetTime, now: DateTime<Utc>) -> Result<Plan, String> {
        let summary = self.window.summary(now);
        let want = match time {
            TargetTime::At(t) if t > now => {
                return Err(format!(
                    "{} is in the future: choose a moment before now, or `latest`",
                    local(t)
                ))
            }
            TargetTime::At(t) => t,
            TargetTime::Latest => now,
        };
        let Some(oldest) = self.bases.first() else {
            return Err(
                "there is no base backup of this cluster: run `pgkeep basebackup` first".into(),
            );
        };
        let Some(base) = self.bases.iter().rev().find(|b| b.finished_at < want) else {
            return Err(format!(
                "{} is before the oldest base backup finished ({}); {summary}",
                local(want),
                local(oldest.finished_at)
            ));
        };
        if let Some(hole) = self.hole_after(base.start_pos) {
            return Err(format!(
                "a gap in the WAL archive after base backup {} ({} missing) stops a restore from it: pgkeep needs every segment from the base backup to now; run `pgkeep basebackup` so that moments after it can be restored",
                base.name,
                self.hole_name(hole)
            ));
        }
        let newest = self.newest_archived();
        let beyond_archive = newest.is_none_or(|n| want > n);
        let end = if beyond_archive {
            self.run.len() + self.window.not_yet_archived.unwrap_or(0) as usize + 1
        } else {
            (base.start_pos..self.run.len())
                .find(|&i| self.run[i].is_some_and(|t| t >= want))
                .map(|i| i + 1)
                .unwrap_or(self.run.len())
        };
        Ok(Plan {
            target: want,
            base: base.name.clone(),
            base_finished: base.finished_at,
            segments: end.saturating_sub(base.start_pos),
            beyond_archive,
        })
    }

    /// The gap's name from the window when it has one, else the position's.
    fn hole_name(&self, _pos: usize) -> String {
        self.window
            .gap
            .clone()
            .map(|g| g.trim_end_matches(" missing").to_string())
            .unwrap_or_else(|| "a segment".into())
    }

    /// How moment `t` looks on the bar at `now` (the same verdict as [`Self::plan`]).
    pub fn cover(&self, t: DateTime<Utc>, now: DateTime<Utc>) -> Cover {
        self.covers(&[t], now)[0]
    }

    /// How each of `times` looks on the bar: one pass over the run, then a binary search per
    /// moment, so a long archive draws as fast as a short one.
    pub fn covers(&self, times: &[DateTime<Utc>], now: DateTime<Utc>) -> Vec<Cover> {
        let blocked: Vec<bool> = self
            .bases
            .iter()
            .map(|b| self.hole_after(b.start_pos).is_some())
            .collect();
        let present: Vec<(usize, DateTime<Utc>)> = self
            .run
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (i, t)))
            .collect();
        let newest = self.newest_archived();
        times
            .iter()
            .map(|&t| {
                let Some(b) = self.bases.iter().rposition(|b| b.finished_at < t) else {
                    return Cover::Before;
                };
                if t > now {
                    return Cover::Before;
                }
                if !blocked[b] {
                    return match newest {
                        Some(n) if t <= n => Cover::Covered,
                        _ => Cover::Pending,
                    };
                }
                // The WAL of `t` is in the first segment archived at or after it: in a hole
                // when the position before that segment is missing.
                let k = present.partition_point(|(_, at)| *at < t);
                match present.get(k) {
                    Some((i, _)) if *i > 0 && (k == 0 || present[k - 1].0 != i - 1) => Cover::Gap,
                    _ => Cover::Blocked,
                }
            })
            .collect()
    }

    /// Number of holes in the run.
    pub fn holes(&self) -> usize {
        self.run
            .iter()
            .enumerate()
            .filter(|(i, t)| t.is_none() && (*i == 0 || self.run[i - 1].is_some()))
            .count()
    }
}

/// Reads the live cluster's facts and builds its timeline from `config`'s backup dir and
/// archive; None when the server cannot be read.
pub async fn collect(config: &Config, target: &dyn Target) -> Option<PitrTimeline> {
    let client = cluster::connect_any(target).await.ok()?;
    let facts = ClusterFacts::read(&client).await.ok()?;
    let (dir, wal) = (config.backup_dir.clone(), config.wal_dir());
    tokio::task::spawn_blocking(move || build(&dir, &wal, &facts))
        .await
        .ok()?
        .ok()
}

/// The timeline of the cluster `facts` describes (blocking: reads the archive).
pub fn build(
    backup_dir: &Path,
    wal_dir: &Path,
    facts: &ClusterFacts,
) -> crate::Result<PitrTimeline> {
    let window =
        RecoveryWindow::compute(backup_dir, wal_dir, &facts.system_identifier, Some(facts))?;
    let bases = base_catalog::scan(backup_dir)?;
    let contents = ArchiveContents::read(&window.archive_dir, facts.wal_segment_size)?;
    let timeline = if facts.in_recovery {
        contents.newest_timeline().unwrap_or(facts.timeline)
    } else {
        facts.timeline
    };
    Ok(PitrTimeline::new(window, &bases, &contents, timeline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, min, 0).unwrap()
    }

    fn mark(name: &str, finished: u32, start_pos: usize) -> BaseMark {
        BaseMark {
            name: name.into(),
            finished_at: at(finished),
            start_pos,
        }
    }

    /// Base backup A finished at 10:01 (segments from 0), B at 10:31 (from 6); segments
    /// archived every 5 minutes from 10:00; `hole` positions missing.
    fn timeline(hole: &[usize]) -> PitrTimeline {
        let run = (0..10)
            .map(|i| (!hole.contains(&i)).then(|| at(i as u32 * 5)))
            .collect();
        PitrTimeline {
            window: RecoveryWindow {
                base_backups: 2,
                gap: (!hole.is_empty()).then(|| "000000010000000000000005 missing".into()),
                ..Default::default()
            },
            bases: vec![mark("a.tar.gz", 1, 0), mark("b.tar.gz", 31, 6)],
            run,
        }
    }

    #[test]
    fn picks_the_newest_base_before_the_moment_and_counts_its_segments() {
        let t = timeline(&[]);
        let p = t.plan(TargetTime::At(at(12)), at(59)).unwrap();
        assert_eq!((p.base.as_str(), p.segments), ("a.tar.gz", 4));
        assert!(!p.beyond_archive);
        let p = t.plan(TargetTime::At(at(40)), at(59)).unwrap();
        assert_eq!((p.base.as_str(), p.segments), ("b.tar.gz", 3));
        let p = t.plan(TargetTime::Latest, at(59)).unwrap();
        assert!(p.beyond_archive);
        assert_eq!((p.base.as_str(), p.segments), ("b.tar.gz", 5));
        assert_eq!(t.cover(at(20), at(59)), Cover::Covered);
        assert_eq!(t.cover(at(50), at(59)), Cover::Pending);
        assert_eq!(t.cover(at(0), at(59)), Cover::Before);
    }

    #[test]
    fn refusals_name_the_reason() {
        let t = timeline(&[]);
        let e = t.plan(TargetTime::At(at(0)), at(59)).unwrap_err();
        assert!(e.contains("before the oldest base backup finished"), "{e}");
        let e = t.plan(TargetTime::At(at(59)), at(30)).unwrap_err();
        assert!(e.contains("in the future"), "{e}");
        let none = PitrTimeline {
            bases: Vec::new(),
            ..timeline(&[])
        };
        let e = none.plan(TargetTime::Latest, at(59)).unwrap_err();
        assert!(e.contains("run `pgkeep basebackup`"), "{e}");
    }

    #[test]
    fn a_gap_blocks_the_base_before_it_but_not_the_one_after() {
        let t = timeline(&[4]);
        let e = t.plan(TargetTime::At(at(12)), at(59)).unwrap_err();
        assert!(
            e.contains("gap in the WAL archive after base backup a.tar.gz"),
            "{e}"
        );
        assert!(e.contains("000000010000000000000005"), "{e}");
        assert!(t.plan(TargetTime::At(at(40)), at(59)).is_ok());
        assert_eq!(t.cover(at(12), at(59)), Cover::Blocked);
        assert_eq!(t.cover(at(17), at(59)), Cover::Gap);
        assert_eq!(t.cover(at(40), at(59)), Cover::Covered);
        assert_eq!(t.holes(), 1);
    }
}
