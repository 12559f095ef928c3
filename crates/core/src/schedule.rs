//! Time: cron expressions evaluated in a time zone (the hibernation timetable and maintenance
//! windows), and the durations of windows.
//!
//! Expressions are the five-field ones of [`crate::validate::cron`] (so one dialect is validated
//! and evaluated), read in the given IANA time zone, DST included: a time that does not exist
//! (the spring-forward gap) fires at the first instant after the gap; a time that exists twice
//! fires at its first occurrence. Day-of-month and day-of-week combine as in cron: when both are
//! restricted, either one matching is enough.
//!
//! The time-zone database is compiled into the binary (jiff's bundled tzdb), so an operator image
//! without `/usr/share/zoneinfo` reads `Europe/Budapest` like any other.

pub use jiff::Timestamp;
use jiff::ToSpan;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

use crate::validate::cron;

/// How far [`Cron::next_after`] and [`Cron::prev_at_or_before`] look: an expression that fires
/// less than once in this time (`0 0 29 2 *` in a run of non-leap years) counts as not firing.
const HORIZON_DAYS: i64 = 5 * 366;

/// A parsed cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    sets: [(u64, bool); 5],
}

fn bit(set: u64, v: i8) -> bool {
    v >= 0 && set & (1u64 << v) != 0
}

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, String> {
        Ok(Cron {
            sets: cron::fields(expr)?,
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        let (dom, dom_star) = self.sets[2];
        let (dow, dow_star) = self.sets[4];
        let by_dom = bit(dom, d.day());
        let by_dow = bit(dow, d.weekday().to_sunday_zero_offset());
        if dom_star || dow_star {
            by_dom && by_dow
        } else {
            by_dom || by_dow
        }
    }

    fn month_matches(&self, d: Date) -> bool {
        bit(self.sets[3].0, d.month())
    }

    fn hour_matches(&self, dt: DateTime) -> bool {
        bit(self.sets[1].0, dt.hour())
    }

    fn minute_matches(&self, dt: DateTime) -> bool {
        bit(self.sets[0].0, dt.minute())
    }

    fn matches(&self, dt: DateTime) -> bool {
        self.month_matches(dt.date())
            && self.day_matches(dt.date())
            && self.hour_matches(dt)
            && self.minute_matches(dt)
    }

    /// The first firing strictly after `t`.
    pub fn next_after(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = t.to_zoned(tz.clone()).datetime();
        let start = start.with().second(0).subsec_nanosecond(0).build().ok()?;
        let mut dt = start.checked_add(1.minute()).ok()?;
        let limit = start.date().checked_add(HORIZON_DAYS.days()).ok()?;
        while dt.date() <= limit {
            if !self.month_matches(dt.date()) {
                dt = dt
                    .date()
                    .first_of_month()
                    .checked_add(1.month())
                    .ok()?
                    .at(0, 0, 0, 0);
            } else if !self.day_matches(dt.date()) {
                dt = dt.date().tomorrow().ok()?.at(0, 0, 0, 0);
            } else if !self.hour_matches(dt) {
                dt = dt
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
            } else if !self.minute_matches(dt) {
                dt = dt.checked_add(1.minute()).ok()?;
            } else {
                let at = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
                if at > t {
                    return Some(at);
                }
                dt = dt.checked_add(1.minute()).ok()?;
            }
        }
        None
    }

    /// The last firing at or before `t`.
    pub fn prev_at_or_before(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = t.to_zoned(tz.clone()).datetime();
        let mut dt = start.with().second(0).subsec_nanosecond(0).build().ok()?;
        let limit = start.date().checked_sub(HORIZON_DAYS.days()).ok()?;
        let last_minute_of = |d: Date| d.at(23, 59, 0, 0);
        while dt.date() >= limit {
            if !self.month_matches(dt.date()) {
                dt = last_minute_of(dt.date().first_of_month().yesterday().ok()?);
            } else if !self.day_matches(dt.date()) {
                dt = last_minute_of(dt.date().yesterday().ok()?);
            } else if !self.hour_matches(dt) {
                dt = dt
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_sub(1.minute())
                    .ok()?;
            } else if !self.minute_matches(dt) {
                dt = dt.checked_sub(1.minute()).ok()?;
            } else {
                debug_assert!(self.matches(dt));
                let at = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
                if at <= t {
                    return Some(at);
                }
                dt = dt.checked_sub(1.minute()).ok()?;
            }
        }
        None
    }
}

/// The time zone named `name` (IANA), `UTC` when empty.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(TimeZone::UTC),
        Some(n) => TimeZone::get(n).map_err(|_| format!("{n:?} is not a known IANA time zone")),
    }
}

/// A duration such as `4h`, `90m` or `1h30m` (units `m`, `h`, `d`), in seconds.
pub fn duration_seconds(text: &str) -> Result<i64, String> {
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("{text:?}: unit {c:?} is not m, h or d")),
        };
        let n: i64 = number
            .parse()
            .map_err(|_| format!("{text:?}: a number must come before {c:?}"))?;
        total = total
            .checked_add(n.checked_mul(unit).ok_or("too long")?)
            .ok_or("too long")?;
        number.clear();
        any = true;
    }
    if !number.is_empty() || !any {
        return Err(format!("{text:?} is not a duration such as 4h or 1h30m"));
    }
    Ok(total)
}

/// A timetable of sleep and wake times: whether the tenant sleeps at `now`, and when that next
/// changes (the later of the two decides: asleep when the last sleep came after the last wake).
pub fn asleep(pairs: &[(Cron, Cron)], tz: &TimeZone, now: Timestamp) -> (bool, Option<Timestamp>) {
    let last = |pick: fn(&(Cron, Cron)) -> &Cron| {
        pairs
            .iter()
            .filter_map(|p| pick(p).prev_at_or_before(now, tz))
            .max()
    };
    let (slept, woke) = (last(|p| &p.0), last(|p| &p.1));
    let asleep = match (slept, woke) {
        (Some(s), Some(w)) => s > w,
        (Some(_), None) => true,
        _ => false,
    };
    let next = pairs
        .iter()
        .flat_map(|(s, w)| [s.next_after(now, tz), w.next_after(now, tz)])
        .flatten()
        .min();
    (asleep, next)
}

/// A window opening at each firing of `start` for `seconds`: whether it is open at `now`, and
/// when it next opens (when closed) or closes (when open).
pub fn window(
    start: &Cron,
    seconds: i64,
    tz: &TimeZone,
    now: Timestamp,
) -> (bool, Option<Timestamp>) {
    if let Some(opened) = start.prev_at_or_before(now, tz)
        && let Ok(closes) = opened.checked_add(seconds.seconds())
        && now < closes
    {
        return (true, Some(closes));
    }
    (false, start.next_after(now, tz))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn next_and_previous_firings_in_a_time_zone() {
        let tz = time_zone(Some("Europe/Budapest")).unwrap();
        let c = Cron::parse("0 20 * * 1-5").unwrap();
        // Wednesday 2026-12-02 14:00 UTC = 15:00 in Budapest
        let now = ts("2026-12-02T14:00:00Z");
        assert_eq!(c.next_after(now, &tz), Some(ts("2026-12-02T19:00:00Z")));
        assert_eq!(
            c.prev_at_or_before(now, &tz),
            Some(ts("2026-12-01T19:00:00Z"))
        );
        // Friday evening -> Monday evening
        assert_eq!(
            c.next_after(ts("2026-12-04T19:00:00Z"), &tz),
            Some(ts("2026-12-07T19:00:00Z"))
        );
        assert_eq!(
            c.prev_at_or_before(ts("2026-12-04T19:00:00Z"), &tz),
            Some(ts("2026-12-04T19:00:00Z"))
        );
        let yearly = Cron::parse("@yearly").unwrap();
        assert_eq!(
            yearly.next_after(now, &TimeZone::UTC),
            Some(ts("2027-01-01T00:00:00Z"))
        );
        // day-of-month OR day-of-week when both are restricted
        let either = Cron::parse("0 0 1 * 0").unwrap();
        assert_eq!(
            either.next_after(now, &TimeZone::UTC),
            Some(ts("2026-12-06T00:00:00Z"))
        );
    }

    #[test]
    fn a_spring_forward_gap_fires_after_the_gap() {
        let tz = time_zone(Some("Europe/Budapest")).unwrap();
        // 2027-03-28 02:30 does not exist in Budapest (02:00 -> 03:00)
        let c = Cron::parse("30 2 * * *").unwrap();
        let t = c.next_after(ts("2027-03-27T12:00:00Z"), &tz).unwrap();
        let next = c.next_after(t, &tz).unwrap();
        assert_eq!(t, ts("2027-03-28T01:30:00Z"));
        assert_eq!(next, ts("2027-03-29T00:30:00Z"));
    }

    #[test]
    fn a_timetable_sleeps_between_sleep_and_wake() {
        let tz = time_zone(Some("Europe/Budapest")).unwrap();
        let pairs = [(
            Cron::parse("0 20 * * *").unwrap(),
            Cron::parse("0 7 * * *").unwrap(),
        )];
        let (sleeping, next) = asleep(&pairs, &tz, ts("2026-12-02T22:00:00Z"));
        assert!(sleeping);
        assert_eq!(next, Some(ts("2026-12-03T06:00:00Z")));
        let (sleeping, next) = asleep(&pairs, &tz, ts("2026-12-02T12:00:00Z"));
        assert!(!sleeping);
        assert_eq!(next, Some(ts("2026-12-02T19:00:00Z")));
    }

    #[test]
    fn windows_open_for_their_duration() {
        let start = Cron::parse("0 2 * * 6").unwrap();
        let four_hours = duration_seconds("4h").unwrap();
        // Saturday 2026-12-05 03:00 UTC: open until 06:00
        let (open, until) = window(
            &start,
            four_hours,
            &TimeZone::UTC,
            ts("2026-12-05T03:00:00Z"),
        );
        assert!(open);
        assert_eq!(until, Some(ts("2026-12-05T06:00:00Z")));
        let (open, at) = window(
            &start,
            four_hours,
            &TimeZone::UTC,
            ts("2026-12-05T06:00:00Z"),
        );
        assert!(!open);
        assert_eq!(at, Some(ts("2026-12-12T02:00:00Z")));
        assert_eq!(duration_seconds("1h30m"), Ok(5400));
        assert!(duration_seconds("4").is_err());
        assert!(duration_seconds("4s").is_err());
        assert!(time_zone(Some("Mars/Olympus")).is_err());
    }
}
