//! Gzip inflation under two bounds: the source's cap on what one body may inflate to, and a
//! process-wide budget on the bytes being inflated for requests not yet authenticated.
//!
//! A signature can only be checked over the inflated bytes, so a client without the secret can
//! still make the gateway inflate: 64 KB of gzip becomes 63 MiB and ~110 ms of CPU before the
//! 401. The budget makes that work something a client must be granted, not something it buys
//! with small bodies: every growth of an output buffer is reserved first, against a total for
//! the process and a share for the client's address block, and a request that cannot reserve
//! is refused at once (503 + `Retry-After`, like load shedding) instead of waiting. Requests
//! whose credential is a header ([`crate::providers::Preset::verify_headers_only`]) have
//! already proved it when they get here and inflate outside the budget.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use flate2::read::MultiGzDecoder;

use crate::http::problem::{Rejection, RejectionKind};

/// Bytes of inflated output that unauthenticated requests may hold at once, in all.
pub const TOTAL_BUDGET: u64 = 64 * 1024 * 1024;
/// Bytes of inflated output that one client (address block) may hold at once.
pub const CLIENT_BUDGET: u64 = 16 * 1024 * 1024;
/// The compressed input is read through a buffer of this size.
const CHUNK: usize = 32 * 1024;
/// The first allocation of an output buffer (never more than the cap).
const FIRST_ALLOCATION: usize = 64 * 1024;

/// What a client may hold and what all clients hold, in bytes of output buffer.
#[derive(Debug)]
pub struct Budget {
    total_limit: u64,
    client_limit: u64,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: u64,
    /// Only clients holding something have an entry, so the map is bounded by the requests in
    /// flight.
    by_client: HashMap<IpAddr, u64>,
}

impl Budget {
    pub fn new(total_limit: u64, client_limit: u64) -> Budget {
        Budget {
            total_limit,
            client_limit,
            held: Mutex::new(Held::default()),
        }
    }

    /// The budget of this process.
    pub fn global() -> Arc<Budget> {
        static GLOBAL: OnceLock<Arc<Budget>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Arc::new(Budget::new(TOTAL_BUDGET, CLIENT_BUDGET)))
            .clone()
    }

    /// An empty reservation for `client` (an address already reduced to its block), for a body
    /// whose source caps it at `cap` bytes. A source whose cap is above the limits may still
    /// inflate one body to its cap: the limits are raised to the cap for that request, so no
    /// configured size becomes unreachable; what they bound is how many such bodies are in
    /// flight.
    pub fn reserve(self: &Arc<Budget>, client: IpAddr, cap: u64) -> Reservation {
        Reservation {
            budget: Some(self.clone()),
            client,
            cap,
            held: 0,
        }
    }

    /// Bytes held in all (for tests and metrics).
    pub fn total_held(&self) -> u64 {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // A panic while holding this lock cannot leave the counts half-updated (each update is
        // two plain stores), so a poisoned lock is still consistent.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn try_take(&self, client: IpAddr, cap: u64, bytes: u64) -> bool {
        let mut held = self.lock();
        let client_now = held.by_client.get(&client).copied().unwrap_or(0);
        let total_after = held.total.saturating_add(bytes);
        let client_after = client_now.saturating_add(bytes);
        if total_after > self.total_limit.max(cap) || client_after > self.client_limit.max(cap) {
            return false;
        }
        held.total = total_after;
        held.by_client.insert(client, client_after);
        true
    }

    fn give_back(&self, client: IpAddr, bytes: u64) {
        let mut held = self.lock();
        held.total = held.total.saturating_sub(bytes);
        if let Some(left) = held.by_client.get_mut(&client) {
            *left = left.saturating_sub(bytes);
            if *left == 0 {
                held.by_client.remove(&client);
            }
        }
    }
}

/// Bytes reserved by one request; given back when it is dropped (the request answered,
/// cancelled or timed out).
#[derive(Debug)]
pub struct Reservation {
    /// `None`: an authenticated request, inflating outside the budget.
    budget: Option<Arc<Budget>>,
    client: IpAddr,
    cap: u64,
    held: u64,
}

impl Reservation {
    /// For a request that needs no budget (its credential was already checked).
    pub fn unbudgeted() -> Reservation {
        Reservation {
            budget: None,
            client: IpAddr::from([0, 0, 0, 0]),
            cap: 0,
            held: 0,
        }
    }

    /// Takes `bytes` more, or says no (the request is then refused: it never waits).
    fn grow(&mut self, bytes: u64) -> Result<(), Rejection> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if budget.try_take(self.client, self.cap, bytes) {
            self.held = self.held.saturating_add(bytes);
            Ok(())
        } else {
            Err(Rejection::new(
                RejectionKind::Overloaded {
                    retry_after: Duration::from_secs(1),
                },
                "gzip inflation budget exhausted (for this client or in all); try again",
            ))
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget
            && self.held > 0
        {
            budget.give_back(self.client, self.held);
        }
    }
}

/// Inflates gzip (several members allowed), refusing output beyond `limit` bytes. The output
/// buffer never grows past `limit`: it doubles, clamped to the cap, and every growth is
/// reserved in `reservation` first.
pub fn gunzip_capped(
    compressed: &[u8],
    limit: u64,
    reservation: &mut Reservation,
) -> Result<Vec<u8>, Rejection> {
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    let mut decoder = MultiGzDecoder::new(compressed);
    loop {
        let n = match decoder.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                return Err(Rejection::new(
                    RejectionKind::BadEncoding,
                    format!("invalid gzip body: {err}"),
                ));
            }
        };
        let needed = out.len().saturating_add(n);
        if needed > cap {
            return Err(Rejection::new(
                RejectionKind::TooLarge,
                format!("gzip body inflates past {limit} bytes"),
            ));
        }
        if needed > out.capacity() {
            let grown = out
                .capacity()
                .saturating_mul(2)
                .max(needed)
                .max(FIRST_ALLOCATION)
                .min(cap);
            let extra = grown - out.capacity();
            reservation.grow(extra as u64)?;
            out.try_reserve_exact(grown - out.len()).map_err(|_| {
                Rejection::new(
                    RejectionKind::Overloaded {
                        retry_after: Duration::from_secs(1),
                    },
                    "out of memory for the inflated body",
                )
            })?;
        }
        // `chunk` is CHUNK bytes long and `n <= CHUNK` (a reader never reports more).
        out.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::body::tests::gzip;

    fn client(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn the_output_buffer_never_grows_past_the_cap() {
        let cap = 1_000_000u64;
        let body = gzip(&vec![7u8; 999_999]);
        let out = gunzip_capped(&body, cap, &mut Reservation::unbudgeted()).expect("inflates");
        assert_eq!(out.len(), 999_999);
        assert!(out.capacity() as u64 <= cap, "capacity {}", out.capacity());
        let bomb = gzip(&vec![0u8; 5_000_000]);
        let err = gunzip_capped(&bomb, cap, &mut Reservation::unbudgeted()).expect_err("refused");
        assert_eq!(err.kind, RejectionKind::TooLarge);
    }

    #[test]
    fn a_client_past_its_share_is_refused_and_another_client_is_not() {
        let budget = Arc::new(Budget::new(4_000_000, 1_500_000));
        let body = gzip(&vec![1u8; 1_000_000]);
        let mut first = budget.reserve(client(1), 2_000_000);
        gunzip_capped(&body, 2_000_000, &mut first).expect("within the share");
        let mut second = budget.reserve(client(1), 2_000_000);
        let err = gunzip_capped(&body, 2_000_000, &mut second).expect_err("share exhausted");
        assert!(matches!(err.kind, RejectionKind::Overloaded { .. }));
        let mut other = budget.reserve(client(2), 2_000_000);
        gunzip_capped(&body, 2_000_000, &mut other).expect("another client has its own share");
        drop((first, second, other));
        assert_eq!(budget.total_held(), 0, "everything is given back");
    }

    #[test]
    fn the_total_bounds_many_clients_together() {
        let budget = Arc::new(Budget::new(2_500_000, 2_000_000));
        let body = gzip(&vec![1u8; 1_000_000]);
        let mut held = Vec::new();
        let mut refused = 0;
        for last in 1..=5 {
            let mut r = budget.reserve(client(last), 2_000_000);
            match gunzip_capped(&body, 2_000_000, &mut r) {
                Ok(_) => held.push(r),
                Err(_) => refused += 1,
            }
        }
        assert!(budget.total_held() <= 2_500_000);
        assert!(refused >= 3, "{refused} refused");
        drop(held);
        assert_eq!(budget.total_held(), 0);
    }

    #[test]
    fn a_cap_above_the_limits_stays_reachable_by_one_request() {
        let budget = Arc::new(Budget::new(1_000_000, 500_000));
        let body = gzip(&vec![1u8; 3_000_000]);
        let mut r = budget.reserve(client(1), 4_000_000);
        let out = gunzip_capped(&body, 4_000_000, &mut r).expect("one body may reach its cap");
        assert_eq!(out.len(), 3_000_000);
    }
}
