//! The one vocabulary for numbers shown to people, used by the CLI and the console alike:
//! sizes in IEC units (KiB, MiB, GiB — the same value reads the same everywhere), counts with
//! thousands separators, ages and durations, and local times with the zone's name.
//!
//! UI-free: no ratatui, no crossterm.

use std::time::Duration;

use chrono::{DateTime, Local, TimeZone, Utc};
use chrono_tz::Tz;
use humansize::{format_size, BINARY};

/// A size in IEC units: "512 B", "5.62 MiB", "1.20 GiB".
pub fn size(bytes: u64) -> String {
    format_size(bytes, BINARY)
}

/// A size with one decimal, for progress lines that change every second: "5.6 MiB".
pub fn size_short(bytes: u64) -> String {
    format_size(bytes, BINARY.decimal_places(1))
}

/// A count with thousands separators: 1,234,567.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A signed count with thousands separators: -1,234.
pub fn count_i(n: i64) -> String {
    if n < 0 {
        format!("-{}", count(n.unsigned_abs()))
    } else {
        count(n as u64)
    }
}

/// A short age or duration: "12s", "5m", "3h02m", "4d".
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=172_799 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86_400),
    }
}

/// Age of `t` at `now`, e.g. "3h02m ago" (never "0 h": under a minute reads "12s ago").
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", age((now - t).to_std().unwrap_or_default()))
}

/// The zone local times are shown in: `TZ` when it names a zone, else the system's zone
/// (`/etc/localtime`, `/etc/timezone`); None when only an offset is known.
pub fn display_zone() -> Option<Tz> {
    if let Ok(tz) = std::env::var("TZ") {
        return tz.trim_start_matches(':').parse::<Tz>().ok();
    }
    let from_link = std::fs::read_link("/etc/localtime").ok().and_then(|p| {
        let s = p.to_string_lossy().into_owned();
        s.split_once("zoneinfo/")
            .and_then(|(_, z)| z.parse::<Tz>().ok())
    });
    from_link.or_else(|| {
        std::fs::read_to_string("/etc/timezone")
            .ok()
            .and_then(|s| s.trim().parse::<Tz>().ok())
    })
}

/// Local time without the zone, for columns under a header that names it: "2026-11-24 03:00".
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

/// Local time with the zone's name where one exists, else its offset:
/// "2026-11-24 03:00 CET", "2026-11-24 03:00 +01:00".
pub fn local_zoned(t: DateTime<Utc>) -> String {
    match display_zone() {
        Some(tz) => with_zone(t, tz),
        None => t
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M %:z")
            .to_string(),
    }
}

/// `t` in `tz`, with the zone's abbreviation: "2026-11-24 03:00 CET".
pub fn with_zone(t: DateTime<Utc>, tz: Tz) -> String {
    tz.from_utc_datetime(&t.naive_utc())
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The name of the display zone for a header ("CET", "UTC"), or its offset.
pub fn zone_name(t: DateTime<Utc>) -> String {
    match display_zone() {
        Some(tz) => tz
            .from_utc_datetime(&t.naive_utc())
            .format("%Z")
            .to_string(),
        None => t.with_timezone(&Local).format("%:z").to_string(),
    }
}

/// "1 failure", "3 failures": a count and its noun, pluralised with "s".
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", count(n))
    }
}

/// Cuts `s` to at most `width` characters, ending in "…" when cut; prefers to cut at a word
/// boundary when one is in the last third, so a word is never split when it need not be.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let keep: String = s.chars().take(width - 1).collect();
    let cut = match keep.rfind(' ') {
        Some(i) if keep[..i].chars().count() * 3 >= (width - 1) * 2 => keep[..i].to_string(),
        _ => keep,
    };
    format!("{}…", cut.trim_end())
}

/// Wraps `s` into rows of at most `width` characters at spaces, never inside a word when
/// the word fits a row; a longer word (a path) breaks after a `/` where it can, else hard.
pub fn wrap_words(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut row = String::new();
    for word in s.split(' ') {
        let mut word = word.to_string();
        loop {
            let used = row.chars().count();
            let need = word.chars().count() + usize::from(used > 0);
            if used + need <= width {
                if used > 0 {
                    row.push(' ');
                }
                row.push_str(&word);
                break;
            }
            if used > 0 && word.chars().count() <= width {
                rows.push(std::mem::take(&mut row));
                continue;
            }
            // The word is longer than what is left: break it, after a '/' when one fits.
            let room = width - used - usize::from(used > 0);
            if room == 0 {
                rows.push(std::mem::take(&mut row));
                continue;
            }
            let head: String = word.chars().take(room).collect();
            let cut = match head.rfind('/') {
                Some(i) if i > 0 => head[..=i].chars().count(),
                _ if used > 0 => {
                    rows.push(std::mem::take(&mut row));
                    continue;
                }
                _ => room,
            };
            let first: String = word.chars().take(cut).collect();
            if used > 0 {
                row.push(' ');
            }
            row.push_str(&first);
            rows.push(std::mem::take(&mut row));
            word = word.chars().skip(cut).collect();
            if word.is_empty() {
                break;
            }
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_iec_everywhere() {
        assert_eq!(size(5_898_240), "5.62 MiB");
        assert_eq!(size(512), "512 B");
        assert_eq!(size_short(5_898_240), "5.6 MiB");
    }

    #[test]
    fn counts_ages_and_fits() {
        assert_eq!(count(450_965), "450,965");
        assert_eq!(count(12), "12");
        assert_eq!(count_i(-1234), "-1,234");
        assert_eq!(age(Duration::from_secs(59)), "59s");
        assert_eq!(age(Duration::from_secs(3720)), "1h02m");
        assert_eq!(age(Duration::from_secs(3 * 86_400)), "3d");
        assert_eq!(plural(1, "failure"), "1 failure");
        assert_eq!(plural(1200, "row"), "1,200 rows");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("rows match the manifest", 19), "rows match the…");
    }

    #[test]
    fn wraps_at_words_and_paths() {
        assert_eq!(
            wrap_words("rows match the manifest", 10),
            vec!["rows match", "the", "manifest"]
        );
        let rows = wrap_words("wrote /var/lib/pgkeep/db_backups/shop_2026.sql.gz ok", 20);
        assert!(rows.iter().all(|r| r.chars().count() <= 20), "{rows:?}");
        assert_eq!(
            rows.concat().replace(' ', ""),
            "wrote/var/lib/pgkeep/db_backups/shop_2026.sql.gzok"
        );
        assert!(rows[1].ends_with('/'), "{rows:?}");
    }

    #[test]
    fn zoned_times_name_the_zone() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            with_zone(t, "Europe/Amsterdam".parse().unwrap()),
            "2026-11-24 03:00 CET"
        );
        assert_eq!(with_zone(t, Tz::UTC), "2026-11-24 02:00 UTC");
    }
}
