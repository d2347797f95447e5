//! WAL continuity over one cluster's archive: which segments a base backup needs up to the
//! newest one, where the first hole is, and whether a hole is lost WAL (newer segments exist
//! beyond it) or only not archived yet.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::walseg::{history_timeline, parse_history, Branch, Segment};
use crate::error::{Error, Result};

/// What one cluster's archive directory holds.
#[derive(Debug, Clone, Default)]
pub struct ArchiveContents {
    /// Every segment with the time it was archived (the file's modification time).
    pub segments: BTreeMap<Segment, DateTime<Utc>>,
    /// Timeline history files: timeline → its branches, oldest first.
    pub histories: BTreeMap<u32, Vec<Branch>>,
    /// The segment size the names were read with.
    pub seg_size: u64,
}

impl ArchiveContents {
    /// Reads `dir` (a missing directory is an empty archive).
    pub fn read(dir: &Path, seg_size: u64) -> Result<ArchiveContents> {
        let mut out = ArchiveContents {
            seg_size,
            ..Default::default()
        };
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(Error::Other(format!(
                    "cannot read the WAL archive {} ({e})",
                    dir.display()
                )))
            }
        };
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if let Some(seg) = Segment::parse(&name, seg_size) {
                let Ok(meta) = ent.metadata() else { continue };
                let at = meta
                    .modified()
                    .map(Into::into)
                    .unwrap_or_else(|_| Utc::now());
                out.segments.insert(seg, at);
            } else if let Some(tl) = history_timeline(&name) {
                let text = std::fs::read_to_string(ent.path()).unwrap_or_default();
                out.histories.insert(tl, parse_history(&text));
            }
        }
        Ok(out)
    }

    /// The highest timeline the archive knows (from segments and history files).
    pub fn newest_timeline(&self) -> Option<u32> {
        let seg = self.segments.keys().map(|s| s.timeline).max();
        let hist = self.histories.keys().copied().max();
        seg.max(hist)
    }

    /// The ranges of segment numbers each timeline contributes on the way from `start` to
    /// `timeline`: (timeline, first number, end number exclusive or None for open-ended).
    pub fn chain(&self, start: Segment, timeline: u32) -> Vec<(u32, u64, Option<u64>)> {
        let branches = self.histories.get(&timeline).cloned().unwrap_or_default();
        let mut ranges = Vec::new();
        let mut from = 0u64;
        for b in &branches {
            let end = b.switch_lsn / self.seg_size;
            ranges.push((b.parent, from, Some(end)));
            from = end;
        }
        ranges.push((timeline, from, None));
        // Keep only what lies at or after the base backup's start, from its timeline on.
        let first = ranges
            .iter()
            .position(|r| r.0 == start.timeline)
            .unwrap_or(ranges.len().saturating_sub(1));
        ranges
            .into_iter()
            .skip(first)
            .filter_map(|(tl, a, b)| {
                let a = a.max(start.number);
                match b {
                    Some(b) if b <= a => None,
                    b => Some((tl, a, b)),
                }
            })
            .collect()
    }

    /// The segments from `start` up to and including `end` (following timeline switches)
    /// that are not in the archive.
    pub fn missing_through(&self, start: Segment, end: Segment) -> Vec<Segment> {
        let mut missing = Vec::new();
        for (tl, a, b) in self.chain(start, end.timeline) {
            let stop = b.unwrap_or(end.number + 1).min(end.number + 1);
            for number in a..stop {
                let seg = Segment {
                    timeline: tl,
                    number,
                };
                if !self.segments.contains_key(&seg) {
                    missing.push(seg);
                }
            }
        }
        missing
    }

    /// Walks the chain from `start` towards `timeline`: the last segment of the unbroken run
    /// and the first hole, if segments exist beyond it.
    pub fn walk(&self, start: Segment, timeline: u32) -> Walk {
        let mut walk = Walk::default();
        let chain = self.chain(start, timeline);
        let newest_on_chain = chain.iter().rev().find_map(|&(tl, a, b)| {
            self.segments
                .range(
                    Segment {
                        timeline: tl,
                        number: a,
                    }..,
                )
                .take_while(|(s, _)| s.timeline == tl && b.is_none_or(|b| s.number < b))
                .last()
                .map(|(s, _)| *s)
        });
        'outer: for &(tl, a, b) in &chain {
            let mut n = a;
            while b.is_none_or(|b| n < b) {
                let seg = Segment {
                    timeline: tl,
                    number: n,
                };
                match self.segments.get(&seg) {
                    Some(at) => walk.last = Some((seg, *at)),
                    None => {
                        if newest_on_chain.is_some_and(|newest| newest > seg) {
                            let resume = self.segments.range(seg..).next().map(|(s, _)| *s);
                            walk.gap = Some(Gap {
                                first_missing: seg,
                                resumes_at: resume,
                            });
                        }
                        break 'outer;
                    }
                }
                n += 1;
            }
        }
        walk
    }
}

/// The result of walking an archive from a base backup's start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Walk {
    /// The last segment of the unbroken run from the start and when it was archived.
    pub last: Option<(Segment, DateTime<Utc>)>,
    /// A hole followed by newer segments: WAL that is lost, not just late.
    pub gap: Option<Gap>,
}

/// A hole in the archive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gap {
    /// The first segment that is missing.
    pub first_missing: Segment,
    /// The next segment that is there again.
    pub resumes_at: Option<Segment>,
}

impl Gap {
    /// "000000010000000000000005 to 000000010000000000000006 missing".
    pub fn describe(&self, seg_size: u64) -> String {
        match self.resumes_at {
            Some(r)
                if r.timeline == self.first_missing.timeline
                    && r.number > self.first_missing.number + 1 =>
            {
                format!(
                    "{} to {} missing",
                    self.first_missing.name(seg_size),
                    Segment {
                        timeline: r.timeline,
                        number: r.number - 1
                    }
                    .name(seg_size)
                )
            }
            _ => format!("{} missing", self.first_missing.name(seg_size)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::walseg::DEFAULT_SEGMENT_SIZE as S;
    use super::*;

    fn archive(names: &[&str]) -> (tempfile::TempDir, ArchiveContents) {
        let dir = tempfile::tempdir().unwrap();
        for n in names {
            let body = if n.ends_with(".history") {
                "1\t0/5000000\tno recovery target specified\n"
            } else {
                ""
            };
            std::fs::write(dir.path().join(n), body).unwrap();
        }
        let c = ArchiveContents::read(dir.path(), S).unwrap();
        (dir, c)
    }

    fn seg(name: &str) -> Segment {
        Segment::parse(name, S).unwrap()
    }

    #[test]
    fn unbroken_run_ends_at_the_newest_segment() {
        let (_d, c) = archive(&[
            "000000010000000000000002",
            "000000010000000000000003",
            "000000010000000000000004",
            "000000010000000000000001",
        ]);
        let w = c.walk(seg("000000010000000000000002"), 1);
        assert_eq!(w.last.unwrap().0, seg("000000010000000000000004"));
        assert!(w.gap.is_none());
    }

    #[test]
    fn a_hole_with_newer_segments_is_a_gap() {
        let (_d, c) = archive(&[
            "000000010000000000000002",
            "000000010000000000000003",
            "000000010000000000000006",
        ]);
        let w = c.walk(seg("000000010000000000000002"), 1);
        assert_eq!(w.last.unwrap().0, seg("000000010000000000000003"));
        let g = w.gap.unwrap();
        assert_eq!(
            g.describe(S),
            "000000010000000000000004 to 000000010000000000000005 missing"
        );
    }

    #[test]
    fn missing_segments_up_to_an_end() {
        let (_d, c) = archive(&["000000010000000000000002", "000000010000000000000004"]);
        let m = c.missing_through(
            seg("000000010000000000000002"),
            seg("000000010000000000000006"),
        );
        let names: Vec<String> = m.iter().map(|s| s.name(S)).collect();
        assert_eq!(
            names,
            [
                "000000010000000000000003",
                "000000010000000000000005",
                "000000010000000000000006"
            ]
        );
    }

    #[test]
    fn the_run_follows_a_timeline_switch() {
        let (_d, c) = archive(&[
            "000000010000000000000003",
            "000000010000000000000004",
            "00000002.history",
            "000000020000000000000005",
            "000000020000000000000006",
        ]);
        assert_eq!(c.newest_timeline(), Some(2));
        let w = c.walk(seg("000000010000000000000003"), 2);
        assert_eq!(w.last.unwrap().0, seg("000000020000000000000006"));
        assert!(w.gap.is_none());
        // The base backup's own start missing: nothing usable, no gap beyond it on the chain.
        let w = c.walk(seg("000000010000000000000002"), 2);
        assert!(w.last.is_none());
        assert!(w.gap.is_some());
    }
}
