//! A cron expression in words: "every day at 02:00", "every 6 hours", "Sundays at 03:00".

use super::cron::{bits, CronExpr};

const DAY_NAMES: [&str; 7] = [
    "Sundays",
    "Mondays",
    "Tuesdays",
    "Wednesdays",
    "Thursdays",
    "Fridays",
    "Saturdays",
];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Describes `expr` in words, e.g. "every day at 02:00".
pub fn describe(expr: &CronExpr) -> String {
    let mut s = format!("{}{}", days_part(expr), time_part(expr));
    if expr.months != full(1, 12) as u16 {
        let months: Vec<&str> = bits(expr.months as u64, 1, 12)
            .into_iter()
            .map(|m| MONTH_NAMES[m as usize - 1])
            .collect();
        s.push_str(&format!(", in {}", join_and(&months)));
    }
    s
}

fn full(min: u32, max: u32) -> u64 {
    (min..=max).fold(0, |acc, v| acc | (1u64 << v))
}

/// Evenly spaced values starting at `min` with this step over the whole range.
fn step_of(set: u64, min: u32, max: u32) -> Option<u32> {
    let v = bits(set, min, max);
    if v.len() < 2 || v[0] != min {
        return None;
    }
    let step = v[1] - v[0];
    let expected: Vec<u32> = (min..=max).step_by(step as usize).collect();
    (expected == v).then_some(step)
}

fn days_part(e: &CronExpr) -> String {
    let all_dom = e.dom_star || e.days_of_month == full(1, 31) as u32;
    let all_dow = e.dow_star || e.days_of_week == full(0, 6) as u8;
    let dows = || -> String {
        if e.days_of_week == 0b0111110 {
            return "weekdays".into();
        }
        if e.days_of_week == 0b1000001 {
            return "weekends".into();
        }
        let names: Vec<&str> = bits(e.days_of_week as u64, 0, 6)
            .into_iter()
            .map(|d| DAY_NAMES[d as usize])
            .collect();
        join_and(&names)
    };
    let doms = || -> String {
        let days: Vec<String> = bits(e.days_of_month as u64, 1, 31)
            .iter()
            .map(u32::to_string)
            .collect();
        let word = if days.len() == 1 { "day" } else { "days" };
        format!(
            "on {word} {} of the month",
            join_and(&days.iter().map(String::as_str).collect::<Vec<_>>())
        )
    };
    match (all_dom, all_dow) {
        (true, true) => String::new(),
        (true, false) => format!("{} ", dows()),
        (false, true) => format!("{} ", doms()),
        (false, false) => format!("{} and {} ", doms(), dows()),
    }
}

fn time_part(e: &CronExpr) -> String {
    let hours = e.hour_list();
    let minutes = e.minute_list();
    let every_hour = e.hours == full(0, 23) as u32;
    let every_day = days_part(e).is_empty();
    let prefix = if every_day { "every day " } else { "" };
    if every_hour && e.minutes == full(0, 59) {
        return "every minute".into();
    }
    if every_hour {
        if let Some(step) = step_of(e.minutes, 0, 59) {
            return format!("every {step} minutes");
        }
        if minutes == [0] {
            return "every hour, on the hour".into();
        }
        let list: Vec<String> = minutes.iter().map(|m| format!(":{m:02}")).collect();
        return format!(
            "every hour at {}",
            join_and(&list.iter().map(String::as_str).collect::<Vec<_>>())
        );
    }
    if minutes.len() == 1 {
        let m = minutes[0];
        if let Some(step) = step_of(e.hours as u64, 0, 23) {
            let at = if m == 0 {
                String::new()
            } else {
                format!(" at minute {m}")
            };
            return format!("every {step} hours{at}");
        }
        if hours.len() <= 6 {
            let times: Vec<String> = hours.iter().map(|h| format!("{h:02}:{m:02}")).collect();
            return format!(
                "{prefix}at {}",
                join_and(&times.iter().map(String::as_str).collect::<Vec<_>>())
            );
        }
    }
    format!(
        "{prefix}at minute(s) {} of hour(s) {}",
        list(&minutes),
        list(&hours)
    )
}

fn list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> String {
        describe(&CronExpr::parse(s).unwrap())
    }

    #[test]
    fn common_schedules_read_naturally() {
        assert_eq!(d("0 2 * * *"), "every day at 02:00");
        assert_eq!(d("0 */6 * * *"), "every 6 hours");
        assert_eq!(d("0 3 * * 0"), "Sundays at 03:00");
        assert_eq!(d("30 1 * * mon-fri"), "weekdays at 01:30");
        assert_eq!(d("*/15 * * * *"), "every 15 minutes");
        assert_eq!(d("0 * * * *"), "every hour, on the hour");
        assert_eq!(d("0 4 1 * *"), "on day 1 of the month at 04:00");
        assert_eq!(d("0 2,14 * * *"), "every day at 02:00 and 14:00");
        assert_eq!(d("0 2 * 1,7 *"), "every day at 02:00, in January and July");
        assert_eq!(d("0 3 * * mon,wed"), "Mondays and Wednesdays at 03:00");
    }
}
