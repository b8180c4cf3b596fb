//! Dates as HTTP and the Common Log Format write them, in UTC, without a
//! date library: IMF-fixdate (RFC 9110 §5.6.7, `Mon, 07 Dec 2026 14:30:00 GMT`)
//! and the CLF stamp (`07/Dec/2026:14:30:00 +0000`).

use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// A UTC calendar time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Days since 1970-01-01 (a Thursday), for the weekday.
    days: i64,
}

impl Utc {
    /// `time` in UTC; times before 1970 count as 1970-01-01.
    pub fn from_system(time: SystemTime) -> Utc {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2));
        Utc::from_unix(secs)
    }

    /// Seconds since the epoch to a calendar date (Howard Hinnant's
    /// `civil_from_days`).
    pub fn from_unix(secs: i64) -> Utc {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        // Every value below is in range by construction (0..60, 1..=31, ...).
        let small = |v: i64| u32::try_from(v).unwrap_or(0);
        Utc {
            year,
            month: small(month),
            day: small(day),
            hour: small(rem / 3600),
            minute: small(rem % 3600 / 60),
            second: small(rem % 60),
            days,
        }
    }

    fn month_name(&self) -> &'static str {
        MONTHS[usize::try_from(self.month.saturating_sub(1)).unwrap_or(0) % 12]
    }

    /// `Mon, 07 Dec 2026 14:30:00 GMT`
    pub fn http_date(&self) -> String {
        let weekday = WEEKDAYS[usize::try_from(self.days.rem_euclid(7)).unwrap_or(0)];
        format!(
            "{weekday}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }

    /// `07/Dec/2026:14:30:00 +0000`
    pub fn clf_date(&self) -> String {
        format!(
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // date -u -d @1796653800 → Mon Dec  7 14:30:00 UTC 2026
        let t = Utc::from_unix(1_796_653_800);
        assert_eq!(t.http_date(), "Mon, 07 Dec 2026 14:30:00 GMT");
        assert_eq!(t.clf_date(), "07/Dec/2026:14:30:00 +0000");
        assert_eq!(
            Utc::from_unix(0).http_date(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        // A leap day: date -u -d @951825600 → Tue Feb 29 12:00:00 UTC 2000
        assert_eq!(
            Utc::from_unix(951_825_600).http_date(),
            "Tue, 29 Feb 2000 12:00:00 GMT"
        );
    }
}
