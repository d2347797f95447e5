//! WAL segment names and LSNs: `TTTTTTTTXXXXXXXXYYYYYYYY` (timeline, high and low part of the
//! segment number), `TTTTTTTT.history`, and `X/Y` LSNs.

/// PostgreSQL's default `wal_segment_size` (16 MB).
pub const DEFAULT_SEGMENT_SIZE: u64 = 16 * 1024 * 1024;

/// One WAL segment: its timeline and its number (counted from 0 for the whole WAL stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Segment {
    /// The timeline the segment belongs to.
    pub timeline: u32,
    /// The segment number (`lsn / segment size`).
    pub number: u64,
}

impl Segment {
    /// Parses a 24-hex-digit segment file name for segments of `seg_size` bytes.
    pub fn parse(name: &str, seg_size: u64) -> Option<Segment> {
        if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let timeline = u32::from_str_radix(&name[0..8], 16).ok()?;
        let log = u64::from_str_radix(&name[8..16], 16).ok()?;
        let seg = u64::from_str_radix(&name[16..24], 16).ok()?;
        let per_log = segments_per_log(seg_size);
        if seg >= per_log {
            return None;
        }
        Some(Segment {
            timeline,
            number: log * per_log + seg,
        })
    }

    /// The segment holding `lsn` on `timeline`.
    pub fn at_lsn(timeline: u32, lsn: u64, seg_size: u64) -> Segment {
        Segment {
            timeline,
            number: lsn / seg_size,
        }
    }

    /// The file name of the segment.
    pub fn name(&self, seg_size: u64) -> String {
        let per_log = segments_per_log(seg_size);
        format!(
            "{:08X}{:08X}{:08X}",
            self.timeline,
            self.number / per_log,
            self.number % per_log
        )
    }
}

fn segments_per_log(seg_size: u64) -> u64 {
    (0x1_0000_0000u64 / seg_size.max(1)).max(1)
}

/// Parses an LSN written as `X/Y` (hex).
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Formats an LSN as `X/Y`.
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// The timeline of a `TTTTTTTT.history` file name.
pub fn history_timeline(name: &str) -> Option<u32> {
    let t = name.strip_suffix(".history")?;
    (t.len() == 8)
        .then(|| u32::from_str_radix(t, 16).ok())
        .flatten()
}

/// One line of a timeline history file: the parent timeline and the LSN where the child
/// timeline branched off it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Branch {
    /// The parent timeline.
    pub parent: u32,
    /// The first LSN of the child timeline.
    pub switch_lsn: u64,
}

/// Parses a history file's text (`1\t0/3000000\treason` lines) in order, oldest first.
pub fn parse_history(text: &str) -> Vec<Branch> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let parent = f.next()?.parse().ok()?;
            let switch_lsn = parse_lsn(f.next()?)?;
            Some(Branch { parent, switch_lsn })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_at_16mb_and_1gb() {
        let s = Segment::parse("000000010000000200000003", DEFAULT_SEGMENT_SIZE).unwrap();
        assert_eq!(s.timeline, 1);
        assert_eq!(s.number, 2 * 256 + 3);
        assert_eq!(s.name(DEFAULT_SEGMENT_SIZE), "000000010000000200000003");
        let g = 1024 * 1024 * 1024;
        let s = Segment::parse("000000020000000100000003", g).unwrap();
        assert_eq!(s.number, 4 + 3);
        assert_eq!(s.name(g), "000000020000000100000003");
        assert!(Segment::parse("000000010000000000000100", DEFAULT_SEGMENT_SIZE).is_none());
        assert!(Segment::parse("00000001000000000000000G", DEFAULT_SEGMENT_SIZE).is_none());
        assert!(Segment::parse("000000010000000000000001.partial", DEFAULT_SEGMENT_SIZE).is_none());
    }

    #[test]
    fn lsns_and_histories() {
        assert_eq!(parse_lsn("0/3000028"), Some(0x300_0028));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(format_lsn(0x1_0300_0028), "1/3000028");
        let s = Segment::at_lsn(2, 0x300_0028, DEFAULT_SEGMENT_SIZE);
        assert_eq!(s.name(DEFAULT_SEGMENT_SIZE), "000000020000000000000003");
        assert_eq!(history_timeline("00000002.history"), Some(2));
        assert_eq!(history_timeline("0000002.history"), None);
        let h = parse_history("1\t0/3000000\tno recovery target specified\n\n2\t0/5000000\tx\n");
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].parent, 2);
        assert_eq!(h[1].switch_lsn, 0x500_0000);
    }
}
