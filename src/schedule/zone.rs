//! Debian's cron runs jobs in the system's zone and has no CRON_TZ: an expression meant in
//! another zone is rewritten for the system's zone when a fixed shift expresses it, and
//! refused otherwise (the UTC-container trap: "02:00" silently becoming 02:00 UTC).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::cron::{bits, CronExpr};
use super::next::fixed_offset;

/// The crontab fields for the system's zone, with a note saying in which zone cron runs it.
pub fn for_system_zone(
    expr: &CronExpr,
    wanted: Tz,
    system: Tz,
    now: DateTime<Utc>,
) -> Result<(String, String), String> {
    if wanted == system {
        return Ok((
            expr.to_cron_string(),
            format!("cron runs this in {system}, the system's time zone"),
        ));
    }
    let (Some(w), Some(s)) = (fixed_offset(wanted, now), fixed_offset(system, now)) else {
        return Err(format!(
            "the schedule is meant in {wanted} but cron runs jobs in {system} (the system's zone) and one of them changes \
             offset for daylight saving, so no crontab line can follow it: set schedule.timezone = \"{system}\", \
             change the system's zone, or run `pgkeep daemon` instead of cron"
        ));
    };
    let shift = s - w;
    if shift == 0 {
        return Ok((
            expr.to_cron_string(),
            format!("cron runs this in {system}, the system's time zone, which has the same offset as {wanted}"),
        ));
    }
    if shift % 3600 != 0 {
        return Err(format!(
            "{wanted} and {system} differ by {} minutes, which a crontab line cannot shift: set schedule.timezone = \"{system}\" or run `pgkeep daemon`",
            shift / 60
        ));
    }
    let shifted = shift_hours(expr, shift / 3600).ok_or_else(|| {
        format!(
            "moving this schedule from {wanted} to {system} (the zone cron runs in) crosses midnight for some runs and \
             the expression restricts days: write it in {system} (set schedule.timezone = \"{system}\") or run `pgkeep daemon`"
        )
    })?;
    Ok((
        shifted.to_cron_string(),
        format!("meant in {wanted}; cron runs this in {system}, the system's time zone, so the hours are shifted"),
    ))
}

/// `expr` moved by `hours` (system minus wanted); None when the days cannot follow.
fn shift_hours(expr: &CronExpr, hours: i32) -> Option<CronExpr> {
    let mut out = expr.clone();
    out.hours = 0;
    let mut carries = Vec::new();
    for h in bits(expr.hours as u64, 0, 23) {
        let t = h as i32 + hours;
        carries.push(t.div_euclid(24));
        out.hours |= 1 << t.rem_euclid(24);
    }
    carries.dedup();
    let every_day = (expr.dom_star || expr.days_of_month == 0xFFFF_FFFE)
        && (expr.dow_star || expr.days_of_week == 0x7F)
        && expr.months == 0x1FFE;
    match carries.as_slice() {
        [0] => Some(out),
        _ if every_day => Some(out),
        // Every run moves to the day before/after: rotate weekdays when only they restrict.
        [c] if expr.dom_star && expr.months == 0x1FFE => {
            let days = bits(expr.days_of_week as u64, 0, 6);
            out.days_of_week = days
                .iter()
                .fold(0u8, |acc, d| acc | 1 << (*d as i32 + c).rem_euclid(7));
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(s: &str) -> Tz {
        s.parse().unwrap()
    }

    #[test]
    fn same_zone_is_unchanged_and_fixed_offsets_shift() {
        let now = Utc::now();
        let e = CronExpr::parse("0 2 * * *").unwrap();
        let (f, note) = for_system_zone(&e, Tz::UTC, Tz::UTC, now).unwrap();
        assert_eq!(f, "0 2 * * *");
        assert!(note.contains("UTC"));
        // 02:00 Tokyo (UTC+9) is 17:00 UTC the day before.
        let (f, _) = for_system_zone(&e, tz("Asia/Tokyo"), Tz::UTC, now).unwrap();
        assert_eq!(f, "0 17 * * *");
        let sunday = CronExpr::parse("0 3 * * sun").unwrap();
        let (f, _) = for_system_zone(&sunday, tz("Asia/Tokyo"), Tz::UTC, now).unwrap();
        assert_eq!(f, "0 18 * * 6");
        let (f, note) = for_system_zone(&e, Tz::UTC, tz("Etc/UTC"), now).unwrap();
        assert_eq!(f, "0 2 * * *");
        assert!(note.contains("same offset"), "{note}");
    }

    #[test]
    fn daylight_saving_zones_are_refused_with_the_fix() {
        let e = CronExpr::parse("0 2 * * *").unwrap();
        let err = for_system_zone(&e, tz("Europe/Amsterdam"), Tz::UTC, Utc::now()).unwrap_err();
        assert!(
            err.contains("pgkeep daemon") && err.contains("schedule.timezone"),
            "{err}"
        );
        let monthly = CronExpr::parse("0 2 1 * *").unwrap();
        assert!(for_system_zone(&monthly, tz("Asia/Tokyo"), Tz::UTC, Utc::now()).is_err());
        assert!(for_system_zone(&e, tz("Asia/Kolkata"), Tz::UTC, Utc::now()).is_err());
    }
}
