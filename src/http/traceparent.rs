//! W3C Trace Context's `traceparent` header (`00-<trace-id>-<parent-id>-<flags>`), read and
//! written: what a trusted proxy sends in (SPEC section 14), what is stored with an event, and
//! what a delivery carries out. A pure parser of untrusted input: strict about length, version
//! and hex, and it never allocates.
//!
//! Whether a request's `traceparent` is believed at all (only from a trusted proxy) is decided
//! by the caller, as for `X-Forwarded-For` (`pipeline::client_ip`).

use std::fmt;

/// The one version this parser writes; a later version is read by its first four fields, as
/// the W3C recommendation asks, when the header is at least that long and the next character
/// is a `-`.
const VERSION: &str = "00";
/// `00-` + 32 + `-` + 16 + `-` + 2.
pub const LEN: usize = 55;

/// One span's identity as a `traceparent` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// Whether the sender recorded the span (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// Parses a `traceparent` value; `None` for anything the recommendation says to ignore
    /// (wrong length, upper-case or non-hex digits, an all-zero id, version `ff`).
    pub fn parse(value: &[u8]) -> Option<TraceParent> {
        if value.len() < LEN || (value.len() > LEN && value.get(LEN) != Some(&b'-')) {
            return None;
        }
        let version = hex_byte(value.get(0..2)?)?;
        // Version 00 is exactly 55 bytes; `ff` is forbidden.
        if version == 0xff || (version == 0 && value.len() != LEN) {
            return None;
        }
        if value.get(2) != Some(&b'-')
            || value.get(35) != Some(&b'-')
            || value.get(52) != Some(&b'-')
        {
            return None;
        }
        let mut trace_id = [0u8; 16];
        for (i, byte) in trace_id.iter_mut().enumerate() {
            *byte = hex_byte(value.get(3 + 2 * i..5 + 2 * i)?)?;
        }
        let mut parent_id = [0u8; 8];
        for (i, byte) in parent_id.iter_mut().enumerate() {
            *byte = hex_byte(value.get(36 + 2 * i..38 + 2 * i)?)?;
        }
        let flags = hex_byte(value.get(53..55)?)?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }
}

/// The version-00 header value, lower-case hex.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(VERSION)?;
        f.write_str("-")?;
        for byte in self.trace_id {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("-")?;
        for byte in self.parent_id {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "-{:02x}", self.flags)
    }
}

/// Two lower-case hex digits (the recommendation forbids upper case).
fn hex_byte(pair: &[u8]) -> Option<u8> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    match pair {
        [high, low] => Some(digit(*high)? << 4 | digit(*low)?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_recommendations_example_reads_and_writes_back_unchanged() {
        let parsed = TraceParent::parse(EXAMPLE.as_bytes()).expect("valid example");
        assert!(parsed.sampled());
        assert_eq!(
            parsed.parent_id,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(parsed.to_string(), EXAMPLE);
        assert_eq!(parsed.to_string().len(), LEN);
    }

    #[test]
    fn malformed_values_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
        ] {
            assert_eq!(TraceParent::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-comes-next";
        let parsed = TraceParent::parse(later.as_bytes()).expect("future version");
        assert!(!parsed.sampled());
        assert_eq!(
            parsed.to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        );
    }
}
