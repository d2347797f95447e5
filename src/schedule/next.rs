//! Time zones and the next runs of a cron expression, DST-correct: a run in a skipped hour
//! (spring forward) happens at the first minute after the gap, a run in a repeated hour
//! (fall back) happens once, at its first occurrence — as Vixie cron does for fixed times.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::cron::CronExpr;

/// The system's time zone (what cron uses): `/etc/timezone`, the `/etc/localtime` link, then
/// `TZ`; UTC when none names a known zone.
pub fn system_zone() -> Tz {
    let from_file = std::fs::read_to_string("/etc/timezone")
        .ok()
        .and_then(|s| s.trim().parse::<Tz>().ok());
    let from_link = || {
        std::fs::read_link("/etc/localtime").ok().and_then(|p| {
            let s = p.to_string_lossy().into_owned();
            s.split_once("zoneinfo/")
                .and_then(|(_, z)| z.parse::<Tz>().ok())
        })
    };
    let from_env = || {
        std::env::var("TZ")
            .ok()
            .and_then(|s| s.trim_start_matches(':').parse::<Tz>().ok())
    };
    from_file
        .or_else(from_link)
        .or_else(from_env)
        .unwrap_or(Tz::UTC)
}

/// The configured zone (`schedule.timezone`), or the system's when unset.
pub fn configured_zone(name: Option<&str>) -> Result<Tz, String> {
    match name {
        None => Ok(system_zone()),
        Some(n) => n.parse::<Tz>().map_err(|_| {
            format!("unknown time zone `{n}` in schedule.timezone: use an IANA name like Europe/Amsterdam or UTC")
        }),
    }
}

/// Days searched before deciding an expression never fires (e.g. `0 0 30 2 *`).
const SEARCH_DAYS: i64 = 366 * 8;

/// The first `count` runs strictly after `after`, in zone `tz`.
pub fn next_runs(expr: &CronExpr, tz: Tz, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Tz>> {
    let mut out: Vec<DateTime<Tz>> = Vec::new();
    if count == 0 {
        return out;
    }
    let start_day = after.with_timezone(&tz).date_naive();
    let hours = expr.hour_list();
    let minutes = expr.minute_list();
    for offset in 0..SEARCH_DAYS {
        let day = start_day + Duration::days(offset);
        if !expr.matches_day(day.month(), day.day(), day.weekday().num_days_from_sunday()) {
            continue;
        }
        for &h in &hours {
            for &m in &minutes {
                let Some(t) = resolve(tz, day, h, m) else {
                    continue;
                };
                let later_than_last = out.last().is_none_or(|l| t > *l);
                if t.with_timezone(&Utc) > after && later_than_last {
                    out.push(t);
                    if out.len() == count {
                        return out;
                    }
                }
            }
        }
    }
    out
}

/// The instant a local wall-clock time means in `tz` (first occurrence; after a gap, the end of it).
fn resolve(tz: Tz, day: NaiveDate, h: u32, m: u32) -> Option<DateTime<Tz>> {
    let naive: NaiveDateTime = day.and_hms_opt(h, m, 0)?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t),
        LocalResult::Ambiguous(first, _) => Some(first),
        LocalResult::None => {
            // In a DST gap: the first existing minute after it.
            (1..=180).find_map(|k| {
                tz.from_local_datetime(&(naive + Duration::minutes(k)))
                    .earliest()
            })
        }
    }
}

/// Whether `tz` keeps one UTC offset for the next two years; Some(offset in seconds) if so.
pub fn fixed_offset(tz: Tz, from: DateTime<Utc>) -> Option<i32> {
    use chrono::Offset;
    let first = tz
        .offset_from_utc_datetime(&from.naive_utc())
        .fix()
        .local_minus_utc();
    let constant = (0..=730).step_by(7).all(|d| {
        let t = from + Duration::days(d);
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
            == first
    });
    constant.then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn daily_runs_in_the_zone() {
        let e = CronExpr::parse("0 2 * * *").unwrap();
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let runs = next_runs(&e, tz, utc("2026-11-24T11:00:00Z"), 3);
        let s: Vec<String> = runs.iter().map(|t| t.to_rfc3339()).collect();
        assert_eq!(
            s,
            [
                "2026-11-25T02:00:00+01:00",
                "2026-11-26T02:00:00+01:00",
                "2026-11-27T02:00:00+01:00"
            ]
        );
    }

    #[test]
    fn spring_forward_gap_runs_after_the_gap_once() {
        // Europe/Amsterdam skips 02:00-03:00 on 2027-03-28.
        let e = CronExpr::parse("30 2 * * *").unwrap();
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let runs = next_runs(&e, tz, utc("2027-03-26T12:00:00Z"), 3);
        let s: Vec<String> = runs.iter().map(|t| t.to_rfc3339()).collect();
        assert_eq!(
            s,
            [
                "2027-03-27T02:30:00+01:00",
                "2027-03-28T03:00:00+02:00",
                "2027-03-29T02:30:00+02:00"
            ]
        );
    }

    #[test]
    fn fall_back_repeated_hour_runs_once() {
        // 2026-10-25 02:00-03:00 happens twice in Amsterdam.
        let e = CronExpr::parse("30 2 * * *").unwrap();
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let runs = next_runs(&e, tz, utc("2026-10-24T12:00:00Z"), 2);
        let s: Vec<String> = runs.iter().map(|t| t.to_rfc3339()).collect();
        assert_eq!(
            s,
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
        );
        let hourly = next_runs(
            &CronExpr::parse("0 * * * *").unwrap(),
            tz,
            utc("2026-10-24T23:30:00Z"),
            4,
        );
        let gaps: Vec<i64> = hourly
            .windows(2)
            .map(|w| (w[1] - w[0]).num_minutes())
            .collect();
        assert!(gaps.iter().all(|g| *g > 0), "{hourly:?}");
    }

    #[test]
    fn impossible_date_never_runs_and_weekly_finds_sundays() {
        assert!(next_runs(
            &CronExpr::parse("0 0 30 2 *").unwrap(),
            Tz::UTC,
            Utc::now(),
            1
        )
        .is_empty());
        let runs = next_runs(
            &CronExpr::parse("0 3 * * sun").unwrap(),
            Tz::UTC,
            utc("2026-11-24T00:00:00Z"),
            2,
        );
        assert_eq!(runs[0].to_rfc3339(), "2026-11-29T03:00:00+00:00");
        assert_eq!(runs[1].to_rfc3339(), "2026-12-06T03:00:00+00:00");
    }

    #[test]
    fn fixed_offsets_are_detected() {
        let now = utc("2026-11-24T00:00:00Z");
        assert_eq!(fixed_offset(Tz::UTC, now), Some(0));
        assert_eq!(
            fixed_offset("Asia/Tokyo".parse().unwrap(), now),
            Some(9 * 3600)
        );
        assert_eq!(fixed_offset("Europe/Amsterdam".parse().unwrap(), now), None);
    }
}
