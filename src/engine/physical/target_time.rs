//! The moment a point-in-time restore aims at: `latest`, or `YYYY-MM-DD HH:MM[:SS[.frac]]`
//! with an optional zone (`Z`, `UTC`, `+01`, `+01:00`, `+0100`, or an IANA name such as
//! `Europe/Amsterdam`); without a zone the time is local.

use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, TimeZone, Utc};

/// What `--time` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetTime {
    /// The newest archived change.
    Latest,
    /// This moment.
    At(DateTime<Utc>),
}

/// Parses `--time`; the error says which forms are understood.
pub fn parse(text: &str) -> Result<TargetTime, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("latest") {
        return Ok(TargetTime::Latest);
    }
    let bad = || {
        format!(
            "cannot read the time {text:?}: write it as \"YYYY-MM-DD HH:MM:SS\" (local time), optionally followed by a zone such as +01:00, UTC or Europe/Amsterdam, or use `latest`"
        )
    };
    let t = match t.get(10..11) {
        Some("T") => format!("{} {}", &t[..10], &t[11..]),
        _ => t.to_string(),
    };
    // Split off the zone: the part after the seconds (a space, Z, + or - after the time).
    let date_len = 10;
    if t.len() < date_len + 6 {
        return Err(bad());
    }
    let rest = t.get(date_len + 1..).ok_or_else(bad)?;
    let zone_at = rest
        .find(|c: char| c == ' ' || c == 'Z' || c == '+' || c == '-' || c.is_ascii_alphabetic())
        .map(|i| date_len + 1 + i)
        .unwrap_or(t.len());
    let (clock, zone) = t.split_at(zone_at);
    let naive = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(clock.trim(), f).ok())
        .ok_or_else(bad)?;
    let zone = zone.trim();
    let utc = if zone.is_empty() {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .ok_or_else(bad)?
            .with_timezone(&Utc)
    } else if zone.eq_ignore_ascii_case("z") || zone.eq_ignore_ascii_case("utc") {
        Utc.from_utc_datetime(&naive)
    } else if zone.starts_with(['+', '-']) {
        let offset = parse_offset(zone).ok_or_else(bad)?;
        offset
            .from_local_datetime(&naive)
            .single()
            .ok_or_else(bad)?
            .with_timezone(&Utc)
    } else {
        let tz: chrono_tz::Tz = zone.parse().map_err(|_| bad())?;
        tz.from_local_datetime(&naive)
            .earliest()
            .ok_or_else(bad)?
            .with_timezone(&Utc)
    };
    Ok(TargetTime::At(utc))
}

fn parse_offset(z: &str) -> Option<FixedOffset> {
    let sign = if z.starts_with('-') { -1 } else { 1 };
    let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// The time as `recovery_target_time` takes it: UTC with microseconds and an explicit offset.
pub fn for_server(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        match parse(s).unwrap() {
            TargetTime::At(t) => t,
            TargetTime::Latest => panic!("latest"),
        }
    }

    #[test]
    fn forms_with_zones() {
        let want = Utc.with_ymd_and_hms(2026, 12, 1, 13, 31, 0).unwrap();
        assert_eq!(at("2026-12-01 13:31:00 UTC"), want);
        assert_eq!(at("2026-12-01 13:31:00Z"), want);
        assert_eq!(at("2026-12-01 14:31:00+01"), want);
        assert_eq!(at("2026-12-01 14:31:00 +01:00"), want);
        assert_eq!(at("2026-12-01T14:31:00+0100"), want);
        assert_eq!(at("2026-12-01 14:31:00 Europe/Amsterdam"), want);
        assert_eq!(at("2026-12-01 14:31 Europe/Amsterdam"), want);
        // psql's now(): fractions and a short offset.
        let t = at("2026-12-01 13:31:00.250123+00");
        assert_eq!(t.timestamp_subsec_micros(), 250123);
        assert_eq!(for_server(t), "2026-12-01 13:31:00.250123+00");
        assert_eq!(parse("latest").unwrap(), TargetTime::Latest);
    }

    #[test]
    fn nonsense_is_refused_with_the_forms() {
        for s in [
            "yesterday",
            "2026-13-01 10:00:00",
            "2026-12-01 10:00:00 Mars/Base",
            "",
        ] {
            let e = parse(s).unwrap_err();
            assert!(e.contains("YYYY-MM-DD HH:MM:SS"), "{s}: {e}");
        }
    }
}
