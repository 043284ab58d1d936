//! How many login attempts one client address may make: a token bucket per address, taken
//! before the token is compared.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Login attempts one client address may make per minute, after its burst.
pub const ATTEMPTS_PER_MINUTE: u32 = 5;
/// Login attempts one client address may make at once.
pub const ATTEMPTS_BURST: u32 = 5;
/// Past this many remembered addresses, idle ones are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Login attempts per client address.
pub struct LoginLimiter(DefaultKeyedRateLimiter<IpAddr>);

impl LoginLimiter {
    pub fn new() -> LoginLimiter {
        // Both constants are above zero.
        let per_minute = NonZeroU32::new(ATTEMPTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(ATTEMPTS_BURST).unwrap_or(NonZeroU32::MIN);
        LoginLimiter(RateLimiter::keyed(
            Quota::per_minute(per_minute).allow_burst(burst),
        ))
    }

    /// Takes one attempt of `client`'s budget; `false` when there is none left.
    pub fn allow(&self, client: IpAddr) -> bool {
        if self.0.len() > MAX_TRACKED_CLIENTS {
            self.0.retain_recent();
        }
        self.0.check_key(&client).is_ok()
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new()
    }
}
