//! The deliveries this instance's worker holds, per destination name, from their claim (or
//! their hand-off by the accept path, [`super::handoff`]) until their destination has answered:
//! what bounds each destination's share of the worker (its claim room) and the worker's whole.
//!
//! Shared by the claimer, which claims only what the rooms leave, and the hand-off, which hands
//! over a new event's deliveries only while their destinations have room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::circuit::Admission;
use super::control::Control;
use crate::clock::now_ms;
use crate::config::Circuit;
use crate::store::Room;

/// Attempts calling their destination at once, across destinations (each destination also has
/// its own limit). Under load every step waits for CPU (milliseconds), so it takes this many to
/// deliver as fast as the gateway ingests. Only attempts that hold their destination's permit
/// take one.
pub const MAX_IN_FLIGHT: usize = 128;
/// Deliveries claimed and not yet answered by their destination, at most, across destinations.
/// A claim waiting for its destination's permit is a few hundred bytes (no event is loaded
/// before its attempt), and each destination's share is bounded by its own claim room, so this
/// only bounds memory: generous, so that destinations that hang (their rooms full) leave room
/// for the others (about a dozen of them at the default `concurrency`, `timeout` and lease).
pub const MAX_HELD: usize = 8 * MAX_IN_FLIGHT;
/// Claims and event reads are made for at least this many deliveries at once (each costs a
/// store round trip, on SQLite a place in a commit).
pub const BATCH: usize = MAX_IN_FLIGHT / 4;

/// Each destination's claim room (how many of its deliveries a worker may hold: `registry.rs`
/// computes it) and its `circuit`, by destination name: what the rooms are made of, built with
/// the registry of each config generation.
#[derive(Default)]
pub struct Rooms {
    pub(super) claim_rooms: HashMap<String, usize>,
    /// `None`: `circuit = false`.
    pub(super) circuits: HashMap<String, Option<Circuit>>,
}

impl Rooms {
    /// The `circuit` of the destination called `name`; `None` when it has none or is not
    /// configured.
    pub fn circuit(&self, name: &str) -> Option<&Circuit> {
        self.circuits.get(name).and_then(Option::as_ref)
    }
}

/// The deliveries the worker holds, per destination name.
#[derive(Default)]
pub struct Held {
    counts: Mutex<HashMap<String, usize>>,
    /// Told each time a claim is given back: its destination has room again.
    pub freed: Notify,
}

/// What a destination may hold (its claim room), as its control state admits now: none when
/// paused or open, one for an open circuit ready for its probe. A destination not configured
/// (its deliveries are dead at once) gets a batch.
fn room_of(rooms: &Rooms, control: &Control, name: &str, now: i64) -> usize {
    let Some(room) = rooms.claim_rooms.get(name) else {
        return BATCH;
    };
    match control.admit(name, rooms.circuit(name), now) {
        Admission::Attempt => *room,
        Admission::Probe => 1,
        Admission::GiveBack => 0,
    }
}

impl Held {
    /// Counts a claim of `destination` until the returned [`Holding`] is dropped.
    pub fn take(self: &Arc<Self>, destination: &str) -> Holding {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(destination.to_owned()).or_default() += 1;
        }
        Holding {
            held: self.clone(),
            destination: destination.to_owned(),
        }
    }

    /// Counts a delivery of `destination` handed over by the accept path if its destination
    /// has room for it now and admits an attempt (not a probe: the claimer makes those), and
    /// [`MAX_HELD`] is not reached; `None` otherwise (it is then given back to the store).
    pub fn try_take(
        self: &Arc<Self>,
        destination: &str,
        rooms: &Rooms,
        control: &Control,
    ) -> Option<Holding> {
        let Ok(mut counts) = self.counts.lock() else {
            return None;
        };
        let total: usize = counts.values().sum();
        let held = counts.get(destination).copied().unwrap_or(0);
        let now = now_ms();
        let probing = rooms.claim_rooms.contains_key(destination)
            && control.admit(destination, rooms.circuit(destination), now) == Admission::Probe;
        if probing || total >= MAX_HELD || held >= room_of(rooms, control, destination, now) {
            return None;
        }
        *counts.entry(destination.to_owned()).or_default() += 1;
        Some(Holding {
            held: self.clone(),
            destination: destination.to_owned(),
        })
    }

    /// Whether each of `destinations` has room for one more delivery, and the worker for them
    /// all: what the accept path asks before it hands an event's deliveries over.
    pub fn has_room(&self, destinations: &[String], rooms: &Rooms, control: &Control) -> bool {
        let Ok(counts) = self.counts.lock() else {
            return false;
        };
        let total: usize = counts.values().sum();
        let now = now_ms();
        total.saturating_add(destinations.len()) <= MAX_HELD
            && destinations.iter().all(|name| {
                rooms.claim_rooms.contains_key(name)
                    && control.admit(name, rooms.circuit(name), now) == Admission::Attempt
                    && counts.get(name).copied().unwrap_or(0) < room_of(rooms, control, name, now)
            })
    }

    /// What the next claim may take: what is left of each destination's room and of
    /// [`MAX_HELD`].
    pub fn room(&self, rooms: &Rooms, control: &Control) -> Room {
        let Ok(counts) = self.counts.lock() else {
            // Poisoned only if a holder panicked while counting; claim nothing rather than
            // claim past the bounds.
            return Room::up_to(0);
        };
        let total: usize = counts.values().sum();
        let now = now_ms();
        let per_destination = rooms
            .claim_rooms
            .keys()
            .map(|name| {
                let held = counts.get(name).copied().unwrap_or(0);
                let room = room_of(rooms, control, name, now);
                (name.clone(), room.saturating_sub(held))
            })
            .collect();
        Room {
            total: MAX_HELD.saturating_sub(total),
            per_destination,
            otherwise: BATCH,
        }
    }
}

/// A claim counted against its destination's room; dropping it gives the room back.
pub struct Holding {
    held: Arc<Held>,
    destination: String,
}

impl Drop for Holding {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.held.counts.lock()
            && let Some(count) = counts.get_mut(&self.destination)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.destination);
            }
        }
        self.held.freed.notify_one();
    }
}
