//! The `expires` field (spec 1.0.31 §4.2: "ISO 8601 ... YYYY-MM-DDTHH:MM:SSZ"),
//! in the one form python-tuf reads and writes (`%Y-%m-%dT%H:%M:%SZ`, UTC),
//! as seconds since the Unix epoch. Metadata is expired when `now >= expires`
//! (python-tuf's `is_expired`).

use std::fmt;

/// A UTC time to the second, as seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(i64);

impl Time {
    /// The time `seconds` after the Unix epoch (negative: before).
    pub const fn from_unix(seconds: i64) -> Time {
        Time(seconds)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// This time plus `seconds` (saturating).
    pub const fn plus_seconds(self, seconds: i64) -> Time {
        Time(self.0.saturating_add(seconds))
    }

    /// Parses exactly `YYYY-MM-DDTHH:MM:SSZ` (years 0001 to 9999).
    pub fn parse(text: &str) -> Option<Time> {
        let b = text.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = &b[r];
            if !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            part.iter()
                .try_fold(0i64, |acc, d| Some(acc * 10 + i64::from(d - b'0')))
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if year < 1
            || !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Time(days * 86_400 + hour * 3600 + minute * 60 + second))
    }
}

impl fmt::Display for Time {
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(Time::parse("1970-01-01T00:00:00Z"), Some(Time(0)));
        assert_eq!(
            Time::parse("2027-01-01T00:00:00Z"),
            Some(Time(1_798_761_600))
        );
        assert_eq!(Time::parse("2000-02-29T23:59:59Z"), Some(Time(951_868_799)));
        assert_eq!(Time(1_798_761_600).to_string(), "2027-01-01T00:00:00Z");
        assert_eq!(Time(951_868_799).to_string(), "2000-02-29T23:59:59Z");
    }

    #[test]
    fn round_trip_over_centuries() {
        for t in (-62_135_596_800i64..253_402_300_799).step_by(86_400 * 37 + 3_917) {
            let text = Time(t).to_string();
            assert_eq!(Time::parse(&text), Some(Time(t)), "{text}");
        }
    }

    #[test]
    fn other_forms_refused() {
        for bad in [
            "2027-01-01T00:00:00",
            "2027-01-01T00:00:00+00:00",
            "2027-01-01 00:00:00Z",
            "2027-01-01T00:00:00.5Z",
            "2027-1-01T00:00:00Z",
            "2027-02-29T00:00:00Z",
            "2027-13-01T00:00:00Z",
            "2027-01-01T24:00:00Z",
            "0000-01-01T00:00:00Z",
            "+027-01-01T00:00:00Z",
            "2027-01-01t00:00:00z",
        ] {
            assert_eq!(Time::parse(bad), None, "{bad}");
        }
    }
}
