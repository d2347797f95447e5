//! Five-field cron expressions (minute hour day-of-month month day-of-week) as Vixie cron
//! reads them: numbers, ranges, lists, steps, `*`, month and day names, `7` for Sunday, the
//! `@daily`-style shorthands, and the day-of-month / day-of-week OR rule.

use std::fmt;

/// A parsed cron expression: one bit set per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    /// Minutes 0-59 (bit n = minute n).
    pub minutes: u64,
    /// Hours 0-23.
    pub hours: u32,
    /// Days of the month 1-31 (bit n = day n).
    pub days_of_month: u32,
    /// Months 1-12 (bit n = month n).
    pub months: u16,
    /// Days of the week 0-6, 0 = Sunday.
    pub days_of_week: u8,
    /// The day-of-month field began with `*` (Vixie: then only day-of-week restricts).
    pub dom_star: bool,
    /// The day-of-week field began with `*`.
    pub dow_star: bool,
}

/// Why an expression could not be parsed: one line, naming the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(pub String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    names_start: u32,
}

const FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        names_start: 0,
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        names_start: 0,
    },
    FieldSpec {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
        names_start: 0,
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTH_NAMES,
        names_start: 1,
    },
    // 7 is accepted for Sunday and folded onto 0 after parsing.
    FieldSpec {
        name: "day of week",
        min: 0,
        max: 7,
        names: &DAY_NAMES,
        names_start: 0,
    },
];

impl CronExpr {
    /// Parses an expression such as `0 2 * * *`, `*/15 8-18 * * mon-fri` or `@daily`.
    pub fn parse(text: &str) -> Result<CronExpr, CronError> {
        let text = text.trim();
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            t if t.starts_with('@') => {
                return Err(CronError(format!(
                    "unknown shorthand `{t}`: use @hourly, @daily, @weekly, @monthly, @yearly or five fields like `0 2 * * *`"
                )))
            }
            t => t,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError(format!(
                "`{text}` has {} field(s), cron needs 5: minute hour day-of-month month day-of-week (e.g. `0 2 * * *` for 02:00 daily)",
                fields.len()
            )));
        }
        let mut sets = [0u64; 5];
        for (i, (field, spec)) in fields.iter().zip(FIELDS.iter()).enumerate() {
            sets[i] = parse_field(field, spec)?;
        }
        let mut dow = sets[4];
        if dow & (1 << 7) != 0 {
            dow = (dow & !(1 << 7)) | 1;
        }
        Ok(CronExpr {
            minutes: sets[0],
            hours: sets[1] as u32,
            days_of_month: sets[2] as u32,
            months: sets[3] as u16,
            days_of_week: dow as u8,
            dom_star: fields[2].starts_with('*'),
            dow_star: fields[4].starts_with('*'),
        })
    }

    /// Whether the expression fires on a day (month 1-12, day 1-31, weekday 0 = Sunday).
    pub fn matches_day(&self, month: u32, day: u32, weekday: u32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << day) != 0;
        let dow = self.days_of_week & (1 << weekday) != 0;
        match (self.dom_star, self.dow_star) {
            (true, true) => dom && dow,
            (true, false) => dow,
            (false, true) => dom,
            // Both restricted: Vixie cron runs on either.
            (false, false) => dom || dow,
        }
    }

    /// The hours it fires in, ascending.
    pub fn hour_list(&self) -> Vec<u32> {
        bits(self.hours as u64, 0, 23)
    }

    /// The minutes it fires in, ascending.
    pub fn minute_list(&self) -> Vec<u32> {
        bits(self.minutes, 0, 59)
    }

    /// The expression as five cron fields (canonical: ranges and lists, `*` for full sets).
    pub fn to_cron_string(&self) -> String {
        let dom = if self.dom_star && self.days_of_month == full(1, 31) as u32 {
            "*".to_string()
        } else {
            render(self.days_of_month as u64, 1, 31)
        };
        let dow = if self.dow_star && self.days_of_week == full(0, 6) as u8 {
            "*".to_string()
        } else {
            render(self.days_of_week as u64, 0, 6)
        };
        format!(
            "{} {} {} {} {}",
            render(self.minutes, 0, 59),
            render(self.hours as u64, 0, 23),
            dom,
            render(self.months as u64, 1, 12),
            dow
        )
    }
}

/// The values whose bits are set in `set`, between `min` and `max`.
pub fn bits(set: u64, min: u32, max: u32) -> Vec<u32> {
    (min..=max).filter(|v| set & (1u64 << v) != 0).collect()
}

fn full(min: u32, max: u32) -> u64 {
    (min..=max).fold(0, |acc, v| acc | (1u64 << v))
}

fn render(set: u64, min: u32, max: u32) -> String {
    if set == full(min, max) {
        return "*".into();
    }
    let values = bits(set, min, max);
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j > i + 1 {
            parts.push(format!("{}-{}", values[i], values[j]));
        } else {
            parts.extend(values[i..=j].iter().map(u32::to_string));
        }
        i = j + 1;
    }
    parts.join(",")
}

fn parse_field(field: &str, spec: &FieldSpec) -> Result<u64, CronError> {
    let mut set = 0u64;
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    CronError(format!(
                        "{} field `{field}`: step `{s}` must be a positive number (e.g. `*/15`)",
                        spec.name
                    ))
                })?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (
                spec.min,
                spec.max.min(if spec.name == "day of week" {
                    6
                } else {
                    spec.max
                }),
            )
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, field, spec)?, value(b, field, spec)?)
        } else {
            let v = value(range, field, spec)?;
            // `5/10` means 5-max/10, as in Vixie cron.
            (v, if item.contains('/') { spec.max } else { v })
        };
        if lo > hi {
            return Err(CronError(format!(
                "{} field `{field}`: range {lo}-{hi} runs backwards; write the smaller value first",
                spec.name
            )));
        }
        let mut v = lo;
        while v <= hi {
            set |= 1u64 << v;
            v += step;
        }
    }
    Ok(set)
}

fn value(text: &str, field: &str, spec: &FieldSpec) -> Result<u32, CronError> {
    let lower = text.to_ascii_lowercase();
    if let Some(pos) = spec.names.iter().position(|n| *n == lower) {
        return Ok(pos as u32 + spec.names_start);
    }
    let hint = if spec.names.is_empty() {
        String::new()
    } else {
        format!(" or a name like `{}`", spec.names[0])
    };
    let v: u32 = text.parse().map_err(|_| {
        CronError(format!(
            "{} field `{field}`: `{text}` is not a number from {} to {}{hint}",
            spec.name, spec.min, spec.max
        ))
    })?;
    if v < spec.min || v > spec.max {
        return Err(CronError(format!(
            "{} field `{field}`: {v} is out of range, use {} to {}",
            spec.name, spec.min, spec.max
        )));
    }
    Ok(v)
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_cron_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let e = CronExpr::parse("0 2 * * *").unwrap();
        assert_eq!(e.minute_list(), vec![0]);
        assert_eq!(e.hour_list(), vec![2]);
        let e = CronExpr::parse("*/15 8-18/2 1,15 jan-mar MON-FRI").unwrap();
        assert_eq!(e.minute_list(), vec![0, 15, 30, 45]);
        assert_eq!(e.hour_list(), vec![8, 10, 12, 14, 16, 18]);
        assert_eq!(e.months, 0b1110);
        assert_eq!(e.days_of_week, 0b0111110);
        assert_eq!(CronExpr::parse("0 3 * * 7").unwrap().days_of_week, 1);
        assert_eq!(
            CronExpr::parse("@daily").unwrap(),
            CronExpr::parse("0 0 * * *").unwrap()
        );
        assert_eq!(
            CronExpr::parse("5/20 * * * *").unwrap().minute_list(),
            vec![5, 25, 45]
        );
    }

    #[test]
    fn day_rule_is_or_when_both_restricted() {
        let e = CronExpr::parse("0 0 1 * mon").unwrap();
        assert!(e.matches_day(5, 1, 3)); // the 1st, a Wednesday
        assert!(e.matches_day(5, 8, 1)); // a Monday
        assert!(!e.matches_day(5, 9, 2));
        let e = CronExpr::parse("0 0 * * mon").unwrap();
        assert!(!e.matches_day(5, 1, 3));
        let e = CronExpr::parse("0 0 */2 * *").unwrap();
        assert!(e.matches_day(5, 3, 0) && !e.matches_day(5, 2, 0));
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let msg = |t: &str| CronExpr::parse(t).unwrap_err().0;
        assert!(msg("0 2 * *").contains("4 field(s)"), "{}", msg("0 2 * *"));
        assert!(msg("60 2 * * *").contains("minute field"));
        assert!(msg("0 25 * * *").contains("out of range"));
        assert!(msg("0 2 * foo *").contains("month field"));
        assert!(msg("0 5-2 * * *").contains("backwards"));
        assert!(msg("*/0 * * * *").contains("step"));
        assert!(msg("@sometimes").contains("shorthand"));
    }

    #[test]
    fn renders_canonical_fields() {
        let e = CronExpr::parse("0 1,2,3,5 * * mon-fri").unwrap();
        assert_eq!(e.to_cron_string(), "0 1-3,5 * * 1-5");
        assert_eq!(
            CronExpr::parse("*/30 * * * *").unwrap().to_cron_string(),
            "0,30 * * * *"
        );
    }
}
