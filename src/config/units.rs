//! Durations and sizes as operators write them: `"250ms"`, `"10s"`, `"1h30m"`, `"7d"`;
//! `"64KiB"`, `"1MiB"`, `"1MB"`, `1048576`.
//!
//! Strict on purpose: a duration needs a unit (`"10"` is refused: seconds or minutes?), units go
//! from largest to smallest and appear once (`"1m30m"` is a typo, not 31 minutes), and there are
//! no fractions (`"1.5s"` is written `"1500ms"`). Sizes take binary (`KiB` = 1024) or decimal
//! (`KB` = 1000) units, case-insensitively, or no unit at all (bytes).

use std::time::Duration;

/// The largest duration accepted anywhere: 100 years. Keeps `Instant + duration` far from
/// overflow in the code that uses these values.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A duration or size that could not be read. Shows (a prefix of) the offending text and the
/// accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error(
        "{0} is not a duration; write an integer and a unit (ms, s, m, h, d), e.g. \"250ms\", \"10s\", \"5m\", \"1h30m\", \"7d\""
    )]
    BadDuration(String),
    #[error(
        "{0} is not a size; write a number of bytes (1048576) or an integer and a unit, e.g. \"64KiB\", \"1MiB\", \"1GiB\", \"1MB\""
    )]
    BadSize(String),
    #[error("{0} is too large (durations are at most 100 years, sizes at most 2^64-1 bytes)")]
    TooLarge(String),
}

/// Reads a duration such as `"10s"`, `"250ms"` or `"1h30m"`. Zero (`"0s"`) is accepted here;
/// callers refuse it where it is meaningless.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError::BadDuration(shown(text));
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut rest = s;
    let mut total_ms: u128 = 0;
    // Units seen so far must shrink: ranks from d (4) down to ms (0).
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let (number, tail) = rest.split_at(digits);
        let letters = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(letters);
        let (rank, unit_ms) = match unit {
            "ms" => (0, 1u128),
            "s" => (1, 1_000),
            "m" => (2, 60_000),
            "h" => (3, 3_600_000),
            "d" => (4, 86_400_000),
            _ => return Err(bad()),
        };
        if rank >= last_rank {
            return Err(bad());
        }
        last_rank = rank;
        let number: u128 = number
            .parse()
            .map_err(|_| UnitError::TooLarge(shown(text)))?;
        total_ms = number
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| UnitError::TooLarge(shown(text)))?;
        rest = tail;
    }
    if total_ms > MAX_DURATION.as_millis() {
        return Err(UnitError::TooLarge(shown(text)));
    }
    // Fits: bounded by MAX_DURATION just above.
    let total_ms = u64::try_from(total_ms).map_err(|_| UnitError::TooLarge(shown(text)))?;
    Ok(Duration::from_millis(total_ms))
}

/// Reads a size such as `"1MiB"`, `"64 KiB"`, `"1MB"` or `"4096"` (bytes).
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let bad = || UnitError::BadSize(shown(text));
    let s = text.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad());
    }
    let (number, unit) = s.split_at(digits);
    let multiplier: u64 = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| UnitError::TooLarge(shown(text)))
}

impl UnitError {
    /// The same error with the offending text described by `shown` instead (for values that
    /// came from the environment, which are not echoed).
    pub fn describing(self, shown: String) -> UnitError {
        match self {
            UnitError::BadDuration(_) => UnitError::BadDuration(shown),
            UnitError::BadSize(_) => UnitError::BadSize(shown),
            UnitError::TooLarge(_) => UnitError::TooLarge(shown),
        }
    }
}

/// The offending text, quoted and cut short so a pasted blob is not echoed whole.
fn shown(text: &str) -> String {
    const MAX: usize = 24;
    if text.chars().count() <= MAX {
        format!("`{text}`")
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("`{cut}…`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_duration_unit_and_combinations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("1m30s500ms"),
            Ok(Duration::from_millis(90_500))
        );
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_durations_without_a_unit_with_fractions_or_in_the_wrong_order() {
        for text in [
            "", "10", "1.5s", "10x", "s", "-1s", "1h 30m", "30m1h", "1m30m", "10S", "1e3s",
        ] {
            let err = parse_duration(text).expect_err(text);
            assert!(matches!(err, UnitError::BadDuration(_)), "{text}: {err}");
            assert!(err.to_string().contains("\"10s\""), "accepted forms shown");
        }
    }

    #[test]
    fn refuses_durations_longer_than_a_century() {
        assert!(matches!(
            parse_duration("36501d"),
            Err(UnitError::TooLarge(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999999999999999999999999999999d"),
            Err(UnitError::TooLarge(_))
        ));
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
    }

    #[test]
    fn reads_binary_decimal_and_plain_sizes() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("2kb"), Ok(2_000));
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10B"), Ok(10));
    }

    #[test]
    fn refuses_sizes_with_unknown_units_fractions_or_overflow() {
        for text in ["", "MiB", "1.5MiB", "1 MeB", "-1", "1Mi", "ten"] {
            let err = parse_size(text).expect_err(text);
            assert!(matches!(err, UnitError::BadSize(_)), "{text}: {err}");
            assert!(err.to_string().contains("\"1MiB\""), "accepted forms shown");
        }
        assert!(matches!(
            parse_size("99999999999TiB"),
            Err(UnitError::TooLarge(_))
        ));
    }

    #[test]
    fn long_bad_values_are_cut_short_in_messages() {
        let long = "x".repeat(200);
        let message = parse_size(&long).expect_err("bad").to_string();
        assert!(!message.contains(&long));
        assert!(message.contains('…'));
    }
}
