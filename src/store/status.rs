//! The statuses of events and deliveries, and the text each is stored as.
//!
//! The database keeps statuses as text (`'pending'`, `'failed'`, …), checked by the migrations'
//! `CHECK` constraints; Rust code names them with these enums and writes [`EventStatus::as_str`]
//! / [`DeliveryStatus::as_str`]. The SQL that filters on a status (the claim's partial indexes
//! on `status IN ('pending', 'failed')`, the aggregate in `refresh_event(s)`) spells the same
//! words as literals, because a bound value would keep the planner from those indexes; the tests
//! below hold the spellings to the migrations. This module must never change a spelling: stored
//! rows and deployed CHECK constraints use them.

use std::fmt;
use std::str::FromStr;

use super::{Corrupt, Recorded};

/// Where an event stands: the aggregate of its deliveries (dead if any is dead, else failed if
/// any failed, else pending if any is pending, else delivered), or `ignored` when it had no
/// destination at all (kept for inspection, never delivered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventStatus {
    Pending,
    Failed,
    Delivered,
    Dead,
    Ignored,
}

/// Where one delivery (one event to one destination) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Due at `next_attempt_at` (new, replayed, or given back by a worker).
    Pending,
    /// Failed, due again at `next_attempt_at`.
    Failed,
    Delivered,
    /// Failed for good: the dead-letter queue.
    Dead,
}

impl EventStatus {
    pub const ALL: [EventStatus; 5] = [
        EventStatus::Pending,
        EventStatus::Delivered,
        EventStatus::Failed,
        EventStatus::Dead,
        EventStatus::Ignored,
    ];

    /// The text stored in `events.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Failed => "failed",
            EventStatus::Delivered => "delivered",
            EventStatus::Dead => "dead",
            EventStatus::Ignored => "ignored",
        }
    }

    /// A new event's: pending, or ignored when it has no destination (SPEC section 10).
    pub(super) fn of_new(destinations: &[String]) -> EventStatus {
        if destinations.is_empty() {
            EventStatus::Ignored
        } else {
            EventStatus::Pending
        }
    }
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Dead,
    ];

    /// The text stored in `deliveries.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }
}

impl FromStr for EventStatus {
    type Err = Corrupt;

    fn from_str(text: &str) -> Result<EventStatus, Corrupt> {
        EventStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| Corrupt::Status(text.to_owned()))
    }
}

impl FromStr for DeliveryStatus {
    type Err = Corrupt;

    fn from_str(text: &str) -> Result<DeliveryStatus, Corrupt> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| Corrupt::Status(text.to_owned()))
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for EventStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl serde::Serialize for DeliveryStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq<str> for EventStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EventStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Recorded {
    /// What an attempt's outcome writes to its delivery: status, next attempt, error and
    /// delivery time.
    /// The outcome's word in the attempt history and the `outcome` label of
    /// `hookwall_deliveries_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Recorded::Delivered => "delivered",
            Recorded::Retry { .. } => "retry",
            Recorded::Dead { .. } => "dead",
        }
    }

    pub(super) fn columns(&self, now_ms: i64) -> (DeliveryStatus, i64, Option<&str>, Option<i64>) {
        match self {
            Recorded::Delivered => (DeliveryStatus::Delivered, now_ms, None, Some(now_ms)),
            Recorded::Retry { at_ms, error } => (DeliveryStatus::Failed, *at_ms, Some(error), None),
            Recorded::Dead { error } => (DeliveryStatus::Dead, now_ms, Some(error), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_recorded_outcome_has_its_word() {
        assert_eq!(Recorded::Delivered.outcome(), "delivered");
        let error = String::from("HTTP 503");
        let retry = Recorded::Retry {
            at_ms: 1,
            error: error.clone(),
        };
        assert_eq!(retry.outcome(), "retry");
        assert_eq!(Recorded::Dead { error }.outcome(), "dead");
    }

    /// The statuses the newest migration of `store` lets a column of `table` hold.
    fn checked(migrations: &[&str], column_check: &str) -> Vec<String> {
        let newest = migrations
            .iter()
            .rev()
            .find_map(|sql| sql.split(column_check).nth(1))
            .expect("a CHECK on status");
        let list = newest.split(')').next().expect("a closing parenthesis");
        list.split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    fn spelled<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<String> {
        all.iter().map(|s| as_str(*s).to_owned()).collect()
    }

    #[test]
    fn every_status_is_spelled_as_the_postgres_migrations_check_it() {
        let events = [
            include_str!("../../migrations/postgres/0001_events.sql"),
            include_str!("../../migrations/postgres/0005_ignored.sql"),
        ];
        assert_eq!(
            checked(&events, "CHECK (status IN ("),
            spelled(&EventStatus::ALL, EventStatus::as_str)
        );
        let deliveries = [include_str!(
            "../../migrations/postgres/0002_deliveries.sql"
        )];
        assert_eq!(
            checked(&deliveries, "CHECK (status IN ("),
            spelled(&DeliveryStatus::ALL, DeliveryStatus::as_str)
        );
    }

    #[test]
    fn every_status_is_spelled_as_the_sqlite_migrations_check_it() {
        let events = [include_str!("../../migrations/sqlite/0008_ignored.sql")];
        let newest: Vec<String> = events[0]
            .lines()
            .rev()
            .find(|line| line.contains("CHECK (status"))
            .expect("the new CHECK")
            .split("''")
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        assert_eq!(newest, spelled(&EventStatus::ALL, EventStatus::as_str));
        let deliveries = [include_str!("../../migrations/sqlite/0002_deliveries.sql")];
        assert_eq!(
            checked(&deliveries, "CHECK (status IN ("),
            spelled(&DeliveryStatus::ALL, DeliveryStatus::as_str)
        );
    }

    #[test]
    fn a_status_reads_back_as_written() {
        for status in EventStatus::ALL {
            assert_eq!(status.as_str().parse::<EventStatus>().ok(), Some(status));
            assert_eq!(status, status.as_str());
            assert_eq!(status.to_string(), status.as_str());
            // The admin API and exports show a status as the JSON string of its spelling.
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(serde_json::Value::from(status.as_str()))
            );
        }
        assert!("delivering".parse::<EventStatus>().is_err());
    }
}
