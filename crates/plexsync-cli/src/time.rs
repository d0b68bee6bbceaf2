//! Times for people: RFC 3339 in UTC, and "5 min ago".

/// `2026-11-28T01:58:37Z` for milliseconds since the epoch.
pub(crate) fn rfc3339(ms: u64) -> String {
    let secs = ms / 1_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// `ms` as Stash writes its own times: RFC 3339 in the system's time zone (`2026-11-28T02:58:37+01:00`,
/// or `Z` when the zone's offset is zero, as Go writes it), to the second. Stash stores
/// `updated_at` so and compares it as text; a cut-off written in UTC would be off by the
/// zone's offset.
pub(crate) fn stash_time(ms: u64) -> String {
    let zone = jiff::tz::TimeZone::system();
    let at = jiff::Timestamp::from_millisecond(ms as i64).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    stash_time_in(at, &zone)
}

/// How far this machine's local time is ahead of UTC at `ms` (negative: behind).
pub(crate) fn local_offset_ms(ms: u64) -> i64 {
    let at = jiff::Timestamp::from_millisecond(ms as i64).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    i64::from(jiff::tz::TimeZone::system().to_offset(at).seconds()) * 1_000
}

fn stash_time_in(at: jiff::Timestamp, zone: &jiff::tz::TimeZone) -> String {
    let local = at.to_zoned(zone.clone());
    let offset = local.offset().seconds();
    let clock = local.strftime("%Y-%m-%dT%H:%M:%S");
    if offset == 0 {
        format!("{clock}Z")
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let (h, m) = (offset.abs() / 3_600, offset.abs() % 3_600 / 60);
        format!("{clock}{sign}{h:02}:{m:02}")
    }
}

/// `3 min ago`, `in 20 s`, `just now`.
pub(crate) fn ago(then: u64, now: u64) -> String {
    if then > now {
        format!("in {}", engine::duration(then - now))
    } else if now - then < 1_000 {
        "just now".into()
    } else {
        format!("{} ago", engine::duration(now - then))
    }
}

/// Reads `2026-11-28T01:58:37Z`, `2026-11-28T01:58:37+01:00`, `2026-11-28 01:58` or
/// `2026-11-28` (midnight UTC) into milliseconds since the epoch.
pub(crate) fn parse(text: &str) -> Result<u64, String> {
    let bad =
        || format!("{text:?} is not a time: write it like 2026-11-28T01:58:37Z or 2026-11-28");
    let text = text.trim();
    let (date, rest) = text.split_at(text.len().min(10));
    let mut parts = date.split('-').map(|p| p.parse::<i64>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(d)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return Err(bad());
    }
    let mut seconds = days_from_civil(y, m, d) * 86_400;
    let rest = rest.trim_start_matches(['T', 't', ' ']);
    if !rest.is_empty() {
        let (clock, zone) = match rest.find(['Z', 'z', '+', '-']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let mut fields = clock.split(':');
        let mut next = |max: i64| -> Result<i64, String> {
            match fields.next() {
                None => Ok(0),
                Some(f) => {
                    let whole = f.split('.').next().unwrap_or(f);
                    whole
                        .parse::<i64>()
                        .ok()
                        .filter(|v| (0..max).contains(v))
                        .ok_or_else(bad)
                }
            }
        };
        seconds += next(24)? * 3_600 + next(60)? * 60 + next(61)?;
        let offset = match zone {
            "" | "Z" | "z" => 0,
            z => {
                let sign = if z.starts_with('-') { -1 } else { 1 };
                let (h, m) = z[1..].split_once(':').ok_or_else(bad)?;
                let h: i64 = h.parse().map_err(|_| bad())?;
                let m: i64 = m.parse().map_err(|_| bad())?;
                sign * (h * 3_600 + m * 60)
            }
        };
        seconds -= offset;
    }
    u64::try_from(seconds).map(|s| s * 1_000).map_err(|_| bad())
}

/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// plex-client's date check agrees with a calendar library on every `YYYY-MM-DD`
        /// shaped text, real dates or not.
        #[test]
        fn the_date_check_agrees_with_the_calendar(y in 0u32..10_000, m in 0u32..14, d in 0u32..33) {
            let text = format!("{y:04}-{m:02}-{d:02}");
            let real = y >= 1000
                && jiff::civil::Date::new(y as i16, m as i8, d as i8).is_ok();
            proptest::prop_assert_eq!(plex_client::is_date(&text), real, "{}", text);
        }
    }

    #[test]
    fn times_print_and_read_back() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_832_317_000), "2026-11-28T02:18:37Z");
        assert_eq!(parse("2026-11-28T02:18:37Z"), Ok(1_795_832_317_000));
        assert_eq!(parse("2026-11-28T03:18:37+01:00"), Ok(1_795_832_317_000));
        assert_eq!(parse("2026-11-28 02:18:37.250Z"), Ok(1_795_832_317_000));
        assert_eq!(parse("2026-11-28"), Ok(1_795_824_000_000));
        assert_eq!(
            parse("2024-02-29T12:00Z").map(rfc3339),
            Ok("2024-02-29T12:00:00Z".into())
        );
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-11-28T25:00Z",
            "",
            "2026-11",
            "1969-12-31",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        for ms in [0u64, 951_782_400_000, 4_102_444_799_000] {
            assert_eq!(parse(&rfc3339(ms)), Ok(ms));
        }
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(ago(1_000, 1_500), "just now");
        assert_eq!(ago(0, 125_000), "2 min 5 s ago");
        assert_eq!(ago(10_000, 0), "in 10 s");
    }
}

#[cfg(test)]
mod stash_time_tests {
    use super::stash_time_in;
    use jiff::Timestamp;
    use jiff::tz::TimeZone;

    #[test]
    fn times_are_written_in_the_zone_stash_writes_its_own_in() {
        let at: Timestamp = "2026-07-01T12:00:00Z".parse().unwrap();
        let winter: Timestamp = "2026-01-15T23:30:05Z".parse().unwrap();
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let new_york = TimeZone::get("America/New_York").unwrap();
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        assert_eq!(stash_time_in(at, &berlin), "2026-07-01T14:00:00+02:00");
        assert_eq!(stash_time_in(winter, &berlin), "2026-01-16T00:30:05+01:00");
        assert_eq!(stash_time_in(at, &new_york), "2026-07-01T08:00:00-04:00");
        assert_eq!(stash_time_in(at, &kolkata), "2026-07-01T17:30:00+05:30");
        assert_eq!(stash_time_in(at, &TimeZone::UTC), "2026-07-01T12:00:00Z");
    }
}
