//! Small text helpers shared by panes and dialogs: ages, sizes, local times.

use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use humansize::{format_size, DECIMAL};

/// "12s", "5m", "3h02m", "4d".
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=172_799 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86_400),
    }
}

/// Age of `t` at `now`, e.g. "3h02m ago".
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", age((now - t).to_std().unwrap_or_default()))
}

/// A size like "24.3 MB".
pub fn size(bytes: u64) -> String {
    format_size(bytes, DECIMAL)
}

/// Local time, "2026-11-24 03:00".
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

/// A count with thousands separators: 1,234,567.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Cuts `s` to at most `width` characters, ending in "…" when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(age(Duration::from_secs(59)), "59s");
        assert_eq!(age(Duration::from_secs(3720)), "1h02m");
        assert_eq!(age(Duration::from_secs(3 * 86_400)), "3d");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
