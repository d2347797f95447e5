//! The recoverable window: from the end of the oldest usable base backup to the newest WAL
//! segment archived, with no hole between them and none after (lost WAL after every base
//! backup means no window: `restore --time` would refuse every moment). One value, shown the
//! same way by `status`, `doctor`, the console and `restore --time`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use super::base_catalog::{self, BaseBackup};
use super::cluster::ClusterFacts;
use super::continuity::{ArchiveContents, Walk};
use super::walseg::{Segment, DEFAULT_SEGMENT_SIZE};
use crate::error::Result;

/// To which moments the cluster can be brought back.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RecoveryWindow {
    /// The cluster the window is about.
    pub system_identifier: String,
    /// The cluster's archive folder.
    pub archive_dir: PathBuf,
    /// Earliest moment: when the oldest usable base backup finished.
    pub from: Option<DateTime<Utc>>,
    /// Latest moment: when the last segment of the unbroken run was archived.
    pub to: Option<DateTime<Utc>>,
    /// Base backups of this cluster.
    pub base_backups: usize,
    /// Segments in the archive folder.
    pub archived_segments: usize,
    /// The last segment of the unbroken run.
    pub last_segment: Option<String>,
    /// A hole with newer segments after it (lost WAL), named.
    pub gap: Option<String>,
    /// The highest timeline in the archive.
    pub archive_timeline: Option<u32>,
    /// The server's timeline, when it was reachable.
    pub server_timeline: Option<u32>,
    /// The segment the server writes into now.
    pub server_segment: Option<String>,
    /// Finished segments between the unbroken run and the server's current one: archived
    /// late, not lost (the archiver is behind or failing).
    pub not_yet_archived: Option<u64>,
}

impl RecoveryWindow {
    /// Computes the window of cluster `sysid` from the base backups in `backup_dir` and the
    /// archive in `wal_dir/<sysid>`; `facts` (the live server's) adds the timeline compare.
    pub fn compute(
        backup_dir: &Path,
        wal_dir: &Path,
        sysid: &str,
        facts: Option<&ClusterFacts>,
    ) -> Result<RecoveryWindow> {
        let bases: Vec<BaseBackup> = base_catalog::scan(backup_dir)?
            .into_iter()
            .filter(|b| b.manifest.system_identifier == sysid)
            .collect();
        let seg_size = facts
            .map(|f| f.wal_segment_size)
            .or(bases.first().map(|b| b.manifest.wal_segment_size))
            .unwrap_or(DEFAULT_SEGMENT_SIZE);
        let archive_dir = wal_dir.join(sysid);
        let contents = ArchiveContents::read(&archive_dir, seg_size)?;
        let timeline = facts
            .filter(|f| !f.in_recovery)
            .map(|f| f.timeline)
            .or(contents.newest_timeline())
            .unwrap_or(1);
        let mut w = RecoveryWindow {
            system_identifier: sysid.to_string(),
            archive_dir,
            base_backups: bases.len(),
            archived_segments: contents.segments.len(),
            archive_timeline: contents.newest_timeline(),
            server_timeline: facts.map(|f| f.timeline),
            server_segment: facts
                .filter(|f| !f.current_segment.is_empty())
                .map(|f| f.current_segment.clone()),
            ..Default::default()
        };
        let walks: Vec<(&BaseBackup, Walk)> = bases
            .iter()
            .filter_map(|b| Some((b, contents.walk(b.manifest.start_segment()?, timeline))))
            .collect();
        let best = walks
            .iter()
            .filter_map(|(_, wk)| wk.last.map(|l| (l, wk.gap.is_some())))
            .max_by_key(|((s, _), _)| *s);
        // A run that stops at lost WAL (newer segments follow the hole) restores nothing:
        // `restore --time` needs every segment from its base backup to now, as a commit after
        // the target may lie beyond the hole. Only a base backup after the hole opens a window.
        let restorable = best.filter(|(_, lost_after)| !lost_after).map(|(l, _)| l);
        if let Some((last, _)) = best.map(|(l, _)| l) {
            w.last_segment = Some(last.name(seg_size));
        }
        if let Some((last, at)) = restorable {
            let oldest = walks
                .iter()
                .filter(|(b, wk)| {
                    wk.last.map(|l| l.0) == Some(last) && reaches_stop(b, last, seg_size)
                })
                .map(|(b, _)| b.manifest.finished_at)
                .min();
            if let Some(from) = oldest {
                w.from = Some(from);
                w.to = Some(at.max(from));
            }
            if let Some(cur) = facts
                .filter(|f| !f.current_segment.is_empty())
                .and_then(|f| Segment::parse(&f.current_segment, seg_size))
            {
                if cur.timeline == last.timeline {
                    w.not_yet_archived = Some(cur.number.saturating_sub(last.number + 1));
                }
            }
        }
        w.gap = walks
            .iter()
            .rev()
            .find_map(|(_, wk)| wk.gap.map(|g| g.describe(seg_size)));
        Ok(w)
    }

    /// "restorable to any moment from <A> to <B>, newest change archived <age> ago".
    pub fn summary(&self, now: DateTime<Utc>) -> String {
        match (self.from, self.to) {
            (Some(a), Some(b)) => format!(
                "restorable to any moment from {} to {}, newest change archived {} ago",
                local(a),
                local(b),
                crate::engine::progress::format_duration(
                    (now - b).to_std().unwrap_or_default()
                )
            ),
            _ if self.base_backups == 0 => {
                "no point-in-time window: no base backup of this cluster yet (run `pgkeep basebackup`)".into()
            }
            _ => match &self.gap {
                Some(gap) => format!("no point-in-time window: WAL is lost from the archive ({gap}) after every base backup; run `pgkeep basebackup` so that moments after it can be restored"),
                None => "no point-in-time window: the WAL a base backup needs is not in the archive".into(),
            },
        }
    }

    /// Whether `t` lies inside the window.
    pub fn covers(&self, t: DateTime<Utc>) -> bool {
        matches!((self.from, self.to), (Some(a), Some(b)) if a < t && t <= b)
    }
}

/// Whether the run from base backup `b` reaches the segment where `b` is consistent.
fn reaches_stop(b: &BaseBackup, last: Segment, seg_size: u64) -> bool {
    let stop = super::walseg::parse_lsn(&b.manifest.stop_lsn).unwrap_or(0);
    last >= Segment::at_lsn(b.manifest.timeline, stop, seg_size)
}

/// A time in local time with its offset: `2026-12-01 14:31:00 +01:00`.
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}
