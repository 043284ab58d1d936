//! The destinations of the running config, built once per load: each with its retry policy,
//! its concurrency permits, its pace (`rate_limit`), its circuit breaker's settings and how
//! many claims a worker may hold for it. The one place that knows every destination kind, to
//! build it from its config.

use std::sync::Arc;
use std::time::Duration;

use super::destination::Destination;
use super::handoff::Handoff;
use super::held::Rooms;

/// A limiter of deliveries started per second (`rate_limit`), this instance's own.
pub type Pace = governor::DefaultDirectRateLimiter;

/// A destination with its retry policy, concurrency limit, pace and circuit breaker.
pub struct Slot {
    pub destination: std::sync::Arc<dyn Destination>,
    pub retry: crate::config::Retry,
    /// Its concurrency limit: an attempt holds one from before its event is read until its
    /// destination has answered.
    pub permits: std::sync::Arc<tokio::sync::Semaphore>,
    /// Its `rate_limit`: a claim holding its permit waits here (`until_ready`) before its
    /// attempt starts, so the excess waits in the queue and none is dropped. Rebuilt, full, on
    /// reload.
    pub pace: Option<Arc<Pace>>,
    /// Its `circuit`; `None` with `circuit = false`.
    pub circuit: Option<crate::config::Circuit>,
}

/// The most rounds of a destination's attempts a worker holds claimed beyond those running.
const MAX_ROUNDS_AHEAD: usize = 4;

/// How many deliveries of a destination a worker may hold claimed (running, or waiting for one
/// of its `concurrency` permits): enough rounds ahead to keep it busy while the next claim
/// commits, few enough that a claim waiting behind attempts that all run into `timeout` is
/// attempted well within its `lease`. A claim behind `rounds` rounds waits at most `rounds`
/// timeouts, then runs its own: `(rounds + 1) * timeout` is kept within half the lease, and at
/// least one round is always held ahead.
fn claim_room(concurrency: usize, timeout: Duration, lease: Duration) -> usize {
    let timeouts = lease
        .as_millis()
        .checked_div(timeout.as_millis().saturating_mul(2))
        .unwrap_or(u128::MAX);
    let rounds = usize::try_from(timeouts.saturating_sub(1))
        .unwrap_or(usize::MAX)
        .clamp(1, MAX_ROUNDS_AHEAD);
    concurrency.saturating_mul(rounds.saturating_add(1))
}

/// How many deliveries of a destination with `rate` a worker may hold claimed: the last of them
/// waits for the rate about `(room - burst) / per_second`, then runs into its `timeout` at
/// worst; that is kept within half the lease (as in [`claim_room`]), and one is always held.
fn paced_room(rate: crate::config::RateLimit, timeout: Duration, lease: Duration) -> usize {
    let spare_ms = (lease / 2).saturating_sub(timeout).as_millis();
    let waited = spare_ms.saturating_mul(u128::from(rate.per_second)) / 1000;
    usize::try_from(waited)
        .unwrap_or(usize::MAX)
        .saturating_add(usize::try_from(rate.burst).unwrap_or(usize::MAX))
        .max(1)
}

/// The limiter of `rate`: `per_second` starts a second, `burst` at once.
fn pace(rate: crate::config::RateLimit) -> Arc<Pace> {
    use std::num::NonZeroU32;
    // The config refuses 0 for both; 1 would do if it ever let one through.
    let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Arc::new(governor::RateLimiter::direct(
        governor::Quota::per_second(per_second).allow_burst(burst),
    ))
}

/// Builds the destination of `config`'s kind; the error starts with the key it is about (`.url:
/// …`) or a colon.
fn kind(source: &str, config: &crate::config::Destination) -> Result<Arc<dyn Destination>, String> {
    use super::destinations as kinds;
    use crate::config::DestinationKind as Kind;
    let name = config.name.as_str();
    match &config.kind {
        Kind::Http(http) => {
            let client = kinds::http::client(config.timeout)
                .map_err(|err| format!(": cannot build an HTTP client: {err}"))?;
            kinds::http::HttpSender::new(name, source, http, client)
                .map(|d| Arc::new(d) as Arc<dyn Destination>)
                .map_err(|err| format!(".signing_secret: {err}"))
        }
        Kind::Email(email) => kinds::email::SmtpSender::new(name, email, config.timeout)
            .map(|d| Arc::new(d) as Arc<dyn Destination>)
            .map_err(|err| format!(": {err}")),
        Kind::Nats(nats) => kinds::nats::NatsSender::new(name, source, nats, config.timeout)
            .map(|d| Arc::new(d) as Arc<dyn Destination>),
        Kind::Redis(redis) => kinds::redis::RedisSender::new(name, source, redis, config.timeout)
            .map(|d| Arc::new(d) as Arc<dyn Destination>),
        Kind::Amqp(amqp) => kinds::amqp::AmqpSender::new(name, source, amqp, config.timeout)
            .map(|d| Arc::new(d) as Arc<dyn Destination>),
    }
}

/// Every destination of a loaded config, by (source, destination name). Rebuilt on reload.
#[derive(Default)]
pub struct Registry {
    slots: std::collections::HashMap<(String, String), Slot>,
    /// By destination name, how many deliveries a worker may hold claimed ([`claim_room`])
    /// and its `circuit`. Claims know a destination by its name alone, and names are unique
    /// across the file.
    rooms: Rooms,
    /// Where the accept path hands new events to this instance's worker (the same for every
    /// config generation); `None` for a registry no worker serves (`hookwall check`).
    handoff: Option<Arc<Handoff>>,
}

impl Registry {
    /// Builds every destination, collecting every error (for `hookwall check`).
    pub fn build(config: &crate::config::Config) -> Result<Registry, Vec<String>> {
        let mut slots = std::collections::HashMap::new();
        let mut claim_rooms = std::collections::HashMap::<String, usize>::new();
        let mut circuits = std::collections::HashMap::new();
        let mut errors = Vec::new();
        for source in &config.sources {
            for (index, destination) in source.destinations.iter().enumerate() {
                let place = format!("sources.{}.destinations[{index}]", source.name);
                match kind(&source.name, destination) {
                    Ok(destination_impl) => {
                        let concurrency = destination.concurrency.max(1);
                        let mut room =
                            claim_room(concurrency, destination.timeout, config.storage.lease);
                        if let Some(rate) = destination.rate_limit {
                            room = room.min(paced_room(
                                rate,
                                destination.timeout,
                                config.storage.lease,
                            ));
                        }
                        let held = claim_rooms.entry(destination.name.clone()).or_default();
                        *held = held.saturating_add(room);
                        circuits.insert(destination.name.clone(), destination.circuit);
                        slots.insert(
                            (source.name.clone(), destination.name.clone()),
                            Slot {
                                destination: destination_impl,
                                retry: destination.retry,
                                permits: std::sync::Arc::new(tokio::sync::Semaphore::new(
                                    concurrency,
                                )),
                                pace: destination.rate_limit.map(pace),
                                circuit: destination.circuit,
                            },
                        );
                    }
                    Err(error) => errors.push(format!("{place}{error}")),
                }
            }
        }
        if errors.is_empty() {
            Ok(Registry {
                slots,
                rooms: Rooms {
                    claim_rooms,
                    circuits,
                },
                handoff: None,
            })
        } else {
            Err(errors)
        }
    }

    /// The same destinations, served by the worker `handoff` hands new events to (`None`: no
    /// hand-off, every delivery is claimed).
    pub fn with_handoff(mut self, handoff: Option<Arc<Handoff>>) -> Registry {
        self.handoff = handoff;
        self
    }

    /// Where the accept path hands new events to this instance's worker, if anywhere.
    pub fn handoff(&self) -> Option<&Arc<Handoff>> {
        self.handoff.as_ref()
    }

    pub fn get(&self, source: &str, destination: &str) -> Option<&Slot> {
        self.slots.get(&(source.to_owned(), destination.to_owned()))
    }

    /// How many deliveries of each destination (by name) a worker may hold claimed.
    pub fn claim_rooms(&self) -> &std::collections::HashMap<String, usize> {
        &self.rooms.claim_rooms
    }

    /// Each destination's claim room and circuit, by name.
    pub fn rooms(&self) -> &Rooms {
        &self.rooms
    }

    /// The `circuit` of the destination called `name`; `None` when it has none or is not
    /// configured.
    pub fn circuit(&self, name: &str) -> Option<&crate::config::Circuit> {
        self.rooms.circuit(name)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{claim_room, paced_room};
    use crate::config::RateLimit;

    #[test]
    fn a_destination_holds_a_few_rounds_of_its_concurrency_claimed_within_half_its_lease() {
        let s = Duration::from_secs;
        // The defaults: a 10 s timeout, a 5 min lease: four rounds ahead, the most.
        assert_eq!(claim_room(16, s(10), s(300)), 16 * 5);
        // (rounds + 1) * timeout within half the lease: 60 s / 10 s = 6 timeouts, 5 rounds, cut to 4.
        assert_eq!(claim_room(2, s(10), s(120)), 2 * 5);
        assert_eq!(claim_room(2, s(10), s(80)), 2 * 4);
        // A lease short against the timeout still keeps one round ahead.
        assert_eq!(claim_room(3, s(10), s(30)), 3 * 2);
        assert_eq!(claim_room(3, s(60), s(30)), 3 * 2);
        // No timeout to wait for, and no overflow at the extremes.
        assert_eq!(claim_room(4, Duration::ZERO, s(300)), 4 * 5);
        assert_eq!(claim_room(usize::MAX, s(1), s(300)), usize::MAX);
    }

    #[test]
    fn a_paced_destination_holds_no_more_claimed_than_its_rate_starts_within_half_its_lease() {
        let s = Duration::from_secs;
        let rate = |per_second, burst| RateLimit { per_second, burst };
        // 5/s, a 10 s timeout, a 30 s lease: 5 s to spare, 25 starts, and the burst.
        assert_eq!(paced_room(rate(5, 1), s(10), s(30)), 26);
        // The defaults leave the concurrency's rounds as the bound (80 < 5 + 140 * 5).
        assert!(paced_room(rate(5, 5), s(10), s(300)) > claim_room(16, s(10), s(300)));
        // A lease with nothing to spare still holds the burst, and at least one.
        assert_eq!(paced_room(rate(1, 3), s(10), s(10)), 3);
        assert_eq!(paced_room(rate(1, 1), s(60), s(30)), 1);
    }
}
