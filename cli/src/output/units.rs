//! Human-readable units as docker prints them (go-units `HumanDuration`, `HumanSize`, `BytesSize`).
//! Pure functions only: no clock reads, the caller passes durations.

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Go-units `HumanDuration`: "Less than a second", "About a minute", "3 hours", "2 weeks"…
pub fn human_duration(seconds: i64) -> String {
    let secs = seconds.max(0);
    let minutes = secs / 60;
    // go-units rounds hours to the nearest (d.Hours() + 0.5).
    let hours = (secs + 1800) / 3600;
    if secs < 1 {
        "Less than a second".to_string()
    } else if secs == 1 {
        "1 second".to_string()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", secs / 3600 / 24 / 365)
    }
}

/// "5 seconds ago": the CREATED column of `ps` and `images`.
pub fn ago(created_unix: i64, now_unix: i64) -> String {
    format!("{} ago", human_duration(now_unix - created_unix))
}

/// Go's `time.Duration.String()`: "0s", "500ms", "1.5s", "1m30s", "2h0m0s".
pub use berth_gotime::format_duration as go_duration;

/// Decimal size with `precision` significant digits, as go-units `HumanSizeWithPrecision`
/// ("4.26MB", "1.2GB", "0B"); docker's `images` uses precision 3.
pub fn human_size(size: f64, precision: usize) -> String {
    custom_size(size, precision, 1000.0, &DECIMAL_UNITS)
}

/// Binary size as go-units `BytesSize` ("23.28GiB"), used by `info`'s Total Memory.
pub fn bytes_size(size: f64) -> String {
    custom_size(size, 4, 1024.0, &BINARY_UNITS)
}

fn custom_size(mut size: f64, precision: usize, base: f64, units: &[&str]) -> String {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", format_g(size, precision), units[i])
}

/// Go's `%.Ng`: `precision` significant digits, trailing zeros dropped, exponent form when the
/// exponent is < -4 or >= precision (Go prints `1e+03` where Rust would print `1000`).
pub fn format_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    if !value.is_finite() {
        return value.to_string();
    }
    let precision = precision.max(1);
    let sci = format!("{:.*e}", precision - 1, value);
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i64 = exp.parse().unwrap_or(0);
    let prec = i64::try_from(precision).unwrap_or(i64::MAX);
    if exp < -4 || exp >= prec {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs());
    }
    let decimals = usize::try_from(prec - 1 - exp).unwrap_or(0);
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(119), "About a minute");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(3599), "59 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5399), "About an hour");
        assert_eq!(human_duration(5400), "2 hours");
        assert_eq!(human_duration(47 * 3600), "47 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(15 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
        assert_eq!(ago(100, 105), "5 seconds ago");
        assert_eq!(ago(0, 90), "About a minute ago");
    }

    #[test]
    fn sizes_use_decimal_units_with_three_digits() {
        assert_eq!(human_size(0.0, 3), "0B");
        assert_eq!(human_size(512.0, 3), "512B");
        assert_eq!(human_size(4_261_234.0, 3), "4.26MB");
        assert_eq!(human_size(1_200_000_000.0, 3), "1.2GB");
        assert_eq!(human_size(1_000.0, 3), "1kB");
        assert_eq!(human_size(999_700.0, 3), "1e+03kB");
        assert_eq!(bytes_size(25_000_000_000.0), "23.28GiB");
        assert_eq!(bytes_size(1024.0), "1KiB");
    }

    #[test]
    fn format_g_matches_go() {
        assert_eq!(format_g(1.0, 3), "1");
        assert_eq!(format_g(100.0, 3), "100");
        assert_eq!(format_g(0.0001234, 3), "0.000123");
        assert_eq!(format_g(0.00001234, 3), "1.23e-05");
    }

    #[test]
    fn go_durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(4), "4ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(5_000_000_000), "5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(7_200_000_000_000), "2h0m0s");
        assert_eq!(go_duration(-5_000_000_000), "-5s");
    }
}
