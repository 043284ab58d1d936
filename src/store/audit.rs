//! The audit trail's records and their hash chain (SPEC section 12): what an operator did, kept
//! in the store beside the effect it had, each record holding the SHA-256 of the one before it.
//!
//! This file is the one definition of the chain, shared by both stores and by
//! `hookwall audit verify`: the encoding a record's hash is taken over ([`record_hash`]), the
//! genesis ([`GENESIS`]), what the stores are given ([`NewAudit`]) and read back
//! ([`AuditRecord`]), and the walk that finds the first record that does not fit
//! ([`ChainCheck`]). The encoding is written down in docs/security.md so that the chain can be
//! checked with another tool; a change here is a change of that contract.

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record: 64 zeros (there is no record before it).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The most bytes one field of a record keeps (an export's filter is the operator's text): a
/// longer value is cut at a character boundary and ends in `…`.
pub const MAX_FIELD_BYTES: usize = 1024;

/// What an operator did (SPEC section 12). Open to actions that later changes wire in: each has
/// its spelling here, and the stores keep the spelling, not the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Replay,
    BulkReplay,
    Pause,
    Resume,
    Reload,
    Export,
    Login,
    LoginFailed,
    Admit,
}

impl AuditAction {
    /// The spelling stored in `audit.action` and shown by `GET /admin/audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Replay => "replay",
            AuditAction::BulkReplay => "bulk_replay",
            AuditAction::Pause => "pause",
            AuditAction::Resume => "resume",
            AuditAction::Reload => "reload",
            AuditAction::Export => "export",
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::Admit => "admit",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record before the store appends it: the store gives it its id, time and hashes, in the
/// transaction of the effect it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    actor: String,
    action: AuditAction,
    target: String,
    outcome: String,
    client_ip: Option<String>,
}

impl NewAudit {
    /// `actor` (a token's name) did `action` to `target` with `outcome`, from `client_ip`.
    /// Every text is kept as both stores can hold it and hash it alike: NUL (which PostgreSQL's
    /// `text` refuses) becomes U+FFFD, and a field is cut to [`MAX_FIELD_BYTES`].
    pub fn new(
        actor: &str,
        action: AuditAction,
        target: &str,
        outcome: &str,
        client_ip: Option<std::net::IpAddr>,
    ) -> NewAudit {
        NewAudit {
            actor: field(actor),
            action,
            target: field(target),
            outcome: field(outcome),
            client_ip: client_ip.map(|ip| ip.to_string()),
        }
    }

    /// The same record with another outcome (a call that learns its result only once done,
    /// such as a bulk replay's count, is given its record before).
    pub fn with_outcome(mut self, outcome: &str) -> NewAudit {
        self.outcome = field(outcome);
        self
    }

    /// The same record with ` key=n` after its outcome: what the store adds once it knows a
    /// count (a bulk replay's `replayed=N`).
    pub fn with_count(&self, key: &str, n: u64) -> NewAudit {
        let outcome = format!("{} {key}={n}", self.outcome);
        self.clone().with_outcome(&outcome)
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }
    pub fn action(&self) -> AuditAction {
        self.action
    }
    pub fn target(&self) -> &str {
        &self.target
    }
    pub fn outcome(&self) -> &str {
        &self.outcome
    }
    pub fn client_ip(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }

    /// The record as appended after `head` (the newest record's id and hash, or none), at
    /// `time_ms`: its id is the head's plus one, its `prev_hash` the head's hash.
    pub fn chained(&self, head: Option<(i64, String)>, time_ms: i64) -> AuditRecord {
        let (id, prev_hash) = match head {
            Some((id, hash)) => (id.saturating_add(1), hash),
            None => (1, GENESIS.to_owned()),
        };
        let mut record = AuditRecord {
            id,
            time_ms,
            actor: self.actor.clone(),
            action: self.action.as_str().to_owned(),
            target: self.target.clone(),
            outcome: self.outcome.clone(),
            client_ip: self.client_ip.clone(),
            prev_hash,
            hash: String::new(),
        };
        record.hash = record_hash(&record);
        record
    }
}

/// `value` without NUL and at most [`MAX_FIELD_BYTES`] long.
fn field(value: &str) -> String {
    let clean = value.replace('\0', "\u{fffd}");
    if clean.len() <= MAX_FIELD_BYTES {
        return clean;
    }
    let mut end = MAX_FIELD_BYTES - '…'.len_utf8();
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &clean[..end])
}

/// A record as stored, with the texts exactly as the store holds them (the hash is over those).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// 1 for the first record, then one more for each (no gaps: a missing id is a missing record).
    pub id: i64,
    /// Unix milliseconds, from the clock of the writer (PostgreSQL: the database's).
    pub time_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub client_ip: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The record's hash, lowercase hex: SHA-256 over eight fields, each its UTF-8 bytes preceded by
/// their length as an unsigned 64-bit big-endian integer, in this order: `prev_hash` (hex),
/// `id` (decimal), `time` (decimal unix milliseconds), `actor`, `action`, `target`, `outcome`,
/// `client_ip` (empty when there is none). Length prefixes make the encoding unambiguous (no
/// field's bytes can be read as another's), the id and time make a reordering or a changed time
/// show, and `prev_hash` ties the record to every record before it.
pub fn record_hash(record: &AuditRecord) -> String {
    let id = record.id.to_string();
    let time = record.time_ms.to_string();
    let fields = [
        record.prev_hash.as_str(),
        &id,
        &time,
        &record.actor,
        &record.action,
        &record.target,
        &record.outcome,
        record.client_ip.as_deref().unwrap_or(""),
    ];
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Why a record does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// The record's id is not the one after the previous record's: records are missing before
    /// it (deleted) or out of place.
    Id { expected: i64 },
    /// `prev_hash` is not the previous record's hash: a record before it was changed, removed
    /// or put in.
    PrevHash,
    /// The record's hash is not the hash of its content: the record itself was changed.
    Hash,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broken::Id { expected } => write!(
                f,
                "expected record {expected} here: a record before it is missing or out of place"
            ),
            Broken::PrevHash => f.write_str(
                "its prev_hash is not the hash of the record before it: that record was changed, \
                 removed or put in",
            ),
            Broken::Hash => f.write_str(
                "its hash is not the hash of its content: the record was changed after it was written",
            ),
        }
    }
}

/// The walk along the chain, record by record in id order from the first: keeps the id and hash
/// the next record must follow.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    next_id: i64,
    prev_hash: String,
    checked: u64,
}

impl Default for ChainCheck {
    fn default() -> ChainCheck {
        ChainCheck {
            next_id: 1,
            prev_hash: GENESIS.to_owned(),
            checked: 0,
        }
    }
}

impl ChainCheck {
    /// Checks the next record; after an `Err` the chain is broken at this record.
    pub fn check(&mut self, record: &AuditRecord) -> Result<(), Broken> {
        if record.id != self.next_id {
            return Err(Broken::Id {
                expected: self.next_id,
            });
        }
        if record.prev_hash != self.prev_hash {
            return Err(Broken::PrevHash);
        }
        if record_hash(record) != record.hash {
            return Err(Broken::Hash);
        }
        self.next_id = record.id.saturating_add(1);
        self.prev_hash.clone_from(&record.hash);
        self.checked += 1;
        Ok(())
    }

    /// Records checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The hash of the last record checked ([`GENESIS`] before any).
    pub fn head(&self) -> &str {
        &self.prev_hash
    }

    /// The id the next record must have (where to read on from).
    pub fn last_id(&self) -> i64 {
        self.next_id - 1
    }
}

/// One page of the trail, newest first; `next` is the cursor of the following page.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    pub next: Option<String>,
}

/// The most records one page of the trail (or one read of the chain) holds.
pub const MAX_AUDIT_PAGE: u32 = 1000;

/// The page a read of `limit` + 1 records newest first makes.
pub(super) fn audit_page(mut records: Vec<AuditRecord>, limit: u32) -> AuditPage {
    let limit = limit.clamp(1, MAX_AUDIT_PAGE) as usize;
    let next = if records.len() > limit {
        records.truncate(limit);
        records.last().map(|r| r.id.to_string())
    } else {
        None
    };
    AuditPage { records, next }
}

/// A cursor this API gave out: a record's id.
pub(super) fn audit_cursor(cursor: Option<&str>) -> Result<Option<i64>, super::Corrupt> {
    cursor
        .map(|c| c.parse::<i64>().map_err(|_| super::Corrupt::Cursor))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<AuditRecord> {
        let mut records: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let head = records.last().map(|r| (r.id, r.hash.clone()));
            let audit = NewAudit::new(
                "admin",
                AuditAction::Pause,
                &format!("dest-{i}"),
                "ok",
                Some([127, 0, 0, 1].into()),
            );
            records.push(audit.chained(head, 1_000 + i as i64));
        }
        records
    }

    fn verify(records: &[AuditRecord]) -> Result<u64, (i64, Broken)> {
        let mut check = ChainCheck::default();
        for record in records {
            check.check(record).map_err(|broken| (record.id, broken))?;
        }
        Ok(check.checked())
    }

    #[test]
    fn a_chain_as_appended_verifies_from_the_genesis() {
        let records = chain(5);
        assert_eq!(records[0].prev_hash, GENESIS);
        assert_eq!(records[0].id, 1);
        assert_eq!(records[1].prev_hash, records[0].hash);
        assert_eq!(verify(&records), Ok(5));
    }

    #[test]
    fn the_hash_is_sha256_over_length_prefixed_fields() {
        // The encoding docs/security.md gives, spelled out by hand.
        let record = NewAudit::new("admin", AuditAction::Replay, "e1", "ok", None).chained(None, 7);
        let mut bytes = Vec::new();
        for field in [GENESIS, "1", "7", "admin", "replay", "e1", "ok", ""] {
            bytes.extend_from_slice(&(field.len() as u64).to_be_bytes());
            bytes.extend_from_slice(field.as_bytes());
        }
        assert_eq!(record.hash, hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn a_changed_field_breaks_the_chain_at_that_record() {
        let mut records = chain(4);
        records[2].outcome = "refused".into();
        assert_eq!(verify(&records), Err((3, Broken::Hash)));
    }

    #[test]
    fn a_changed_time_or_a_moved_field_boundary_shows() {
        let mut records = chain(2);
        records[1].time_ms += 1;
        assert_eq!(verify(&records), Err((2, Broken::Hash)));

        let mut records = chain(1);
        // "dest-0" + "ok" read as "dest-" + "0ok": the same bytes run together, another hash.
        records[0].target = "dest-".into();
        records[0].outcome = "0ok".into();
        assert_eq!(verify(&records), Err((1, Broken::Hash)));
    }

    #[test]
    fn a_record_removed_from_the_middle_is_named_by_the_one_after_it() {
        let mut records = chain(5);
        records.remove(2);
        assert_eq!(verify(&records), Err((4, Broken::Id { expected: 3 })));
    }

    #[test]
    fn a_chain_rewritten_from_a_record_on_breaks_at_its_successor() {
        let mut records = chain(3);
        records[1].outcome = "refused".into();
        records[1].hash = record_hash(&records[1]);
        assert_eq!(verify(&records), Err((3, Broken::PrevHash)));
    }

    #[test]
    fn fields_lose_nul_and_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_FIELD_BYTES);
        let audit = NewAudit::new("a\0b", AuditAction::Export, &long, "ok", None);
        assert_eq!(audit.actor(), "a\u{fffd}b");
        assert!(audit.target().len() <= MAX_FIELD_BYTES);
        assert!(audit.target().ends_with('…'));
    }

    #[test]
    fn pages_end_with_the_cursor_of_the_last_record_shown() {
        let mut records = chain(3);
        records.reverse();
        let page = audit_page(records, 2);
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.next.as_deref(), Some("2"));
        assert_eq!(audit_cursor(Some("2")).ok(), Some(Some(2)));
        assert!(audit_cursor(Some("x")).is_err());
    }
}
