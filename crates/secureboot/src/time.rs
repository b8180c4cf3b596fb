//! EFI_TIME (UEFI 2.10 §8.3, GetTime) as used in the TimeStamp of
//! EFI_VARIABLE_AUTHENTICATION_2 (§8.2.2): a UTC calendar time whose Pad1,
//! Nanosecond, TimeZone, Daylight and Pad2 fields are all zero.

use std::fmt;

use crate::Error;

/// Size of EFI_TIME in bytes.
pub const EFI_TIME_SIZE: usize = 16;

const SECONDS_PER_DAY: u64 = 86_400;

/// A UTC time with one-second resolution, as authenticated variables carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EfiTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl EfiTime {
    /// The calendar time `secs` seconds after 1970-01-01T00:00:00Z.
    pub fn from_unix(secs: u64) -> Result<Self, Error> {
        let days = secs / SECONDS_PER_DAY;
        let rem = secs % SECONDS_PER_DAY;
        let (year, month, day) = civil_from_days(days);
        // All but the year are in range by construction; the year may not be.
        let small = |v: u64| u8::try_from(v).map_err(|_| Error::TimeOutOfRange(secs));
        let time = Self {
            year: u16::try_from(year).map_err(|_| Error::TimeOutOfRange(secs))?,
            month: small(month)?,
            day: small(day)?,
            hour: small(rem / 3600)?,
            minute: small(rem % 3600 / 60)?,
            second: small(rem % 60)?,
        };
        if time.year > 9999 {
            return Err(Error::TimeOutOfRange(secs));
        }
        Ok(time)
    }

    /// Seconds since the Unix epoch.
    pub fn to_unix(self) -> u64 {
        let days = days_from_civil(u64::from(self.year), self.month, self.day);
        days * SECONDS_PER_DAY
            + u64::from(self.hour) * 3600
            + u64::from(self.minute) * 60
            + u64::from(self.second)
    }

    /// The 16-byte EFI_TIME, every field after Second zero.
    pub fn to_bytes(self) -> [u8; EFI_TIME_SIZE] {
        let mut b = [0u8; EFI_TIME_SIZE];
        b[0..2].copy_from_slice(&self.year.to_le_bytes());
        b[2] = self.month;
        b[3] = self.day;
        b[4] = self.hour;
        b[5] = self.minute;
        b[6] = self.second;
        b
    }

    /// Reads an authenticated-variable TimeStamp. `base` is the offset of the
    /// field in the enclosing buffer, for error messages.
    pub fn parse(bytes: &[u8; EFI_TIME_SIZE], base: usize) -> Result<Self, Error> {
        let t = Self {
            year: u16::from_le_bytes([bytes[0], bytes[1]]),
            month: bytes[2],
            day: bytes[3],
            hour: bytes[4],
            minute: bytes[5],
            second: bytes[6],
        };
        let bad = |offset: usize, field: &'static str, value: u64| Error::BadTime {
            offset: base + offset,
            field,
            value,
        };
        if !(1900..=9999).contains(&t.year) {
            return Err(bad(0, "Year", t.year.into()));
        }
        if !(1..=12).contains(&t.month) {
            return Err(bad(2, "Month", t.month.into()));
        }
        if t.day == 0 || t.day > days_in_month(t.year, t.month) {
            return Err(bad(3, "Day", t.day.into()));
        }
        if t.hour > 23 {
            return Err(bad(4, "Hour", t.hour.into()));
        }
        if t.minute > 59 {
            return Err(bad(5, "Minute", t.minute.into()));
        }
        if t.second > 59 {
            return Err(bad(6, "Second", t.second.into()));
        }
        // Firmware (edk2 AuthService.c) refuses a TimeStamp with any of these set.
        let zero_fields: [(usize, usize, &'static str); 5] = [
            (7, 8, "Pad1"),
            (8, 12, "Nanosecond"),
            (12, 14, "TimeZone"),
            (14, 15, "Daylight"),
            (15, 16, "Pad2"),
        ];
        for (start, end, field) in zero_fields {
            let value = bytes[start..end]
                .iter()
                .rev()
                .fold(0u64, |acc, &b| acc << 8 | u64::from(b));
            if value != 0 {
                return Err(bad(start, field, value));
            }
        }
        Ok(t)
    }
}

impl fmt::Display for EfiTime {
    /// RFC 3339, e.g. `2024-01-02T03:04:05Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn is_leap(year: u16) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month 1..=12, day 1..=31) of the day `days` after 1970-01-01;
/// H. Hinnant's `civil_from_days`, restricted to dates after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to the given date (on or after 1970-01-01).
fn days_from_civil(year: u64, month: u8, day: u8) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y % 400;
    let m = u64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let t = EfiTime::from_unix(1_704_164_645).unwrap();
        assert_eq!(t.to_string(), "2024-01-02T03:04:05Z");
        assert_eq!(
            t.to_bytes(),
            [0xe8, 0x07, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            EfiTime::from_unix(0).unwrap().to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            EfiTime::from_unix(951_782_400).unwrap().to_string(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            EfiTime::from_unix(253_402_300_799).unwrap().to_string(),
            "9999-12-31T23:59:59Z"
        );
        assert!(EfiTime::from_unix(253_402_300_800).is_err());
    }

    #[test]
    fn round_trip_every_day_of_some_years() {
        for secs in (0..40 * 366 * SECONDS_PER_DAY).step_by(86_399) {
            let t = EfiTime::from_unix(secs).unwrap();
            assert_eq!(t.to_unix(), secs);
            assert_eq!(EfiTime::parse(&t.to_bytes(), 0).unwrap(), t);
        }
    }

    #[test]
    fn parse_rejects_bad_fields_with_offsets() {
        let good = EfiTime::from_unix(1_704_164_645).unwrap().to_bytes();
        let cases: [(usize, u8, &str); 7] = [
            (2, 13, "Month"),
            (3, 32, "Day"),
            (4, 24, "Hour"),
            (7, 1, "Pad1"),
            (9, 1, "Nanosecond"),
            (12, 0xff, "TimeZone"),
            (15, 1, "Pad2"),
        ];
        for (at, value, name) in cases {
            let mut b = good;
            b[at] = value;
            match EfiTime::parse(&b, 100) {
                Err(Error::BadTime { field, offset, .. }) => {
                    assert_eq!(field, name);
                    assert!(offset >= 100 && offset <= 100 + at, "{offset}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        let mut feb30 = good;
        feb30[2] = 2;
        feb30[3] = 30;
        assert!(EfiTime::parse(&feb30, 0).is_err());
    }
}
