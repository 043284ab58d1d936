//! How fast logins may be tried: a token bucket per client address, taken before the token is
//! compared ([`LoginLimiter`]), and a bound on how many failed logins the audit trail records
//! ([`FailureRecords`]), which is never purged and must not grow at an attacker's pace.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Login attempts one client address may make per minute, after its burst.
pub const ATTEMPTS_PER_MINUTE: u32 = 5;
/// Login attempts one client address may make at once.
pub const ATTEMPTS_BURST: u32 = 5;
/// Past this many remembered addresses, idle ones are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;
/// Failed logins recorded in the audit trail per minute, over all addresses, after the burst.
pub const FAILURES_RECORDED_PER_MINUTE: u32 = 60;
/// Failed logins recorded at once.
pub const FAILURES_RECORDED_BURST: u32 = 60;

/// Login attempts per client address (an IPv6 client per /64: one host holds a whole /64).
pub struct LoginLimiter(DefaultKeyedRateLimiter<IpAddr>);

impl LoginLimiter {
    pub fn new() -> LoginLimiter {
        LoginLimiter(RateLimiter::keyed(quota(
            ATTEMPTS_PER_MINUTE,
            ATTEMPTS_BURST,
        )))
    }

    /// Takes one attempt of `client`'s budget; `false` when there is none left.
    pub fn allow(&self, client: IpAddr) -> bool {
        if self.0.len() > MAX_TRACKED_CLIENTS {
            self.0.retain_recent();
        }
        self.0.check_key(&bucket(client)).is_ok()
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new()
    }
}

/// The address whose budget a client spends: IPv4 as it is (an IPv4-mapped IPv6 address as
/// its IPv4), IPv6 by its /64.
fn bucket(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    // Every caller passes constants above zero.
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

/// Which failed logins get an audit record: [`FAILURES_RECORDED_PER_MINUTE`] over all
/// addresses; the others are logged only, and the next record says how many were left out.
pub struct FailureRecords {
    limiter: DefaultDirectRateLimiter,
    left_out: AtomicU64,
}

impl FailureRecords {
    pub fn new() -> FailureRecords {
        FailureRecords {
            limiter: RateLimiter::direct(quota(
                FAILURES_RECORDED_PER_MINUTE,
                FAILURES_RECORDED_BURST,
            )),
            left_out: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this failure is to be recorded (`n` failures were left out since the
    /// last record), `None` when it is left out.
    pub fn record(&self) -> Option<u64> {
        if self.limiter.check().is_ok() {
            Some(self.left_out.swap(0, Ordering::Relaxed))
        } else {
            self.left_out.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

impl Default for FailureRecords {
    fn default() -> Self {
        FailureRecords::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_spends_the_budget_of_its_64_and_a_mapped_ipv4_that_of_its_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("literal");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("literal");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("literal");
        assert_eq!(bucket(a), bucket(b));
        assert_ne!(bucket(a), bucket(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("literal");
        assert_eq!(
            bucket(mapped),
            "192.0.2.7".parse::<IpAddr>().expect("literal")
        );
    }

    #[test]
    fn a_whole_64_gets_one_budget() {
        let limiter = LoginLimiter::new();
        for host in 0..ATTEMPTS_BURST {
            let client: IpAddr = format!("2001:db8::{host:x}").parse().expect("an address");
            assert!(limiter.allow(client));
        }
        assert!(!limiter.allow("2001:db8::ffff".parse().expect("literal")));
        assert!(limiter.allow("2001:db8:0:1::1".parse().expect("literal")));
    }

    #[test]
    fn failures_past_the_burst_are_left_out_and_counted_in_the_next_record() {
        let records = FailureRecords::new();
        for _ in 0..FAILURES_RECORDED_BURST {
            assert_eq!(records.record(), Some(0));
        }
        assert_eq!(records.record(), None);
        assert_eq!(records.record(), None);
        assert_eq!(records.left_out.load(Ordering::Relaxed), 2);
    }
}
