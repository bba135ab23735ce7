//! The demo data's fixed clock: "now" is 2026-11-28T00:00:00Z, so the same seed always gives the
//! same timestamps. School year 2026 runs September 2026 – August 2027.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, Utc};
use rand::Rng;

/// A calendar date (the arguments are constants of this module's callers).
pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// Midnight UTC of a date plus `minutes`.
pub(crate) fn at(d: NaiveDate, minutes: i64) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc() + TimeDelta::minutes(minutes)
}

/// The seeder's "today".
pub(crate) fn today() -> NaiveDate {
    date(2026, 11, 28)
}

/// The seeder's "now": 2026-11-28T00:00:00Z.
pub(crate) fn now() -> DateTime<Utc> {
    at(today(), 0)
}

/// When the directory (regions, organizations) was registered.
pub(crate) fn directory_time() -> DateTime<Utc> {
    at(date(2024, 1, 2), 60)
}

/// A moment during office hours (08:30–18:00 Beijing time) of `d`.
pub(crate) fn office_hours(r: &mut impl Rng, d: NaiveDate) -> DateTime<Utc> {
    at(d, r.gen_range(30..600))
}

/// A moment during office hours of a uniformly drawn day in `[a, b]`.
pub(crate) fn office_day(r: &mut impl Rng, a: NaiveDate, b: NaiveDate) -> DateTime<Utc> {
    let d = date_between(r, a, b);
    office_hours(r, d)
}

/// A uniformly drawn date in `[a, b]` (`a` if the range is empty).
pub(crate) fn date_between(r: &mut impl Rng, a: NaiveDate, b: NaiveDate) -> NaiveDate {
    let span = (b - a).num_days();
    if span <= 0 {
        return a;
    }
    a + Days::new(r.gen_range(0..=span) as u64)
}

/// A duration of `lo..hi` hours, to the minute.
pub(crate) fn hours(r: &mut impl Rng, lo: f64, hi: f64) -> TimeDelta {
    TimeDelta::minutes((r.gen_range(lo..hi) * 60.0) as i64)
}

/// A duration of `lo..hi` days, to the minute.
pub(crate) fn days(r: &mut impl Rng, lo: f64, hi: f64) -> TimeDelta {
    hours(r, lo * 24.0, hi * 24.0)
}

/// Whole years of age on `on`.
pub(crate) fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// `t`, but never later than one minute before now (events cannot lie in the future).
pub(crate) fn cap(t: DateTime<Utc>) -> DateTime<Utc> {
    t.min(now() - TimeDelta::minutes(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_fixed() {
        assert_eq!(now().to_rfc3339(), "2026-11-28T00:00:00+00:00");
        assert_eq!(age_on(date(2009, 1, 1), today()), 17);
        assert_eq!(age_on(date(2020, 11, 28), today()), 6);
        assert_eq!(age_on(date(2020, 11, 29), today()), 5);
    }
}
