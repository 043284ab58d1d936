//! Console sessions: who may see the console, and the one check of a token a person types.
//!
//! A session is made only by a successful login ([`authenticate`]); its id is 256 bits from the
//! operating system's generator, sent in a cookie (`HttpOnly`, `SameSite=Strict`, `Path=/ui`,
//! `Secure` as SPEC section 11 says) and kept only in this process's memory: a restart logs
//! everyone out, and two instances behind one address do not share sessions. The table is
//! bounded ([`MAX_SESSIONS`], the oldest login evicted first) and each session expires
//! `server.console_session_ttl` after its login, whatever its use. Each session has its own CSRF
//! token, compared in constant time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::admin::Actor;
use crate::config::{AdminToken, Role};
use crate::live::Snapshot;
use crate::providers::credential_eq;

/// The session cookie's name.
pub const COOKIE: &str = "hookwall_session";
/// The most sessions held at once; a login beyond it evicts the oldest.
pub const MAX_SESSIONS: usize = 1000;

/// The one check of a token presented at the console's login: the token's name, role and
/// digest, or `None`. Any configured admin token (`server.admin_token`, an `admin` named
/// `admin`, and `[[server.admin_tokens]]`), compared in constant time by the admin API's own
/// check.
pub fn authenticate(snapshot: &Snapshot, presented: &str) -> Option<(Arc<str>, Role, TokenDigest)> {
    crate::admin::matching_token(snapshot.admin_tokens(), presented.trim())
        .map(|token| (token.name.clone(), token.role, TokenDigest(token.digest)))
}

/// Which configured token a session was opened with (its SHA-256, as the configuration holds
/// it): a session lasts only while its token is configured, and acts with the role the token
/// has now.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl fmt::Debug for TokenDigest {
    // The digest of a short token can be reversed by trying candidates: it stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(…)")
    }
}

/// A logged-in person, as every console handler sees it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie's value (a hex string of 64 characters).
    pub id: Arc<str>,
    pub actor: Actor,
    /// The hidden field of every form of this session.
    pub csrf: Arc<str>,
    token: TokenDigest,
    expires: Instant,
    created: Instant,
}

impl Session {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        credential_eq(self.csrf.as_bytes(), presented.as_bytes())
    }

    /// The session as the running configuration sees it: its token's name and role now, or
    /// `None` when a reload removed (or changed) its token.
    pub fn current(mut self, tokens: &[AdminToken]) -> Option<Session> {
        let token = tokens.iter().find(|token| token.digest == self.token.0)?;
        self.actor.name = token.name.clone();
        self.actor.role = token.role;
        Some(self)
    }

    /// Whether this session may replay, pause, resume and run the security test.
    pub fn may_operate(&self) -> bool {
        self.actor.role >= Role::Operator
    }

    /// Whether this session may reload the configuration.
    pub fn may_administer(&self) -> bool {
        self.actor.role >= Role::Admin
    }
}

/// The server-side session table.
pub struct Sessions {
    table: Mutex<HashMap<Arc<str>, Session>>,
}

/// Why a session could not be made.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random generator failed: {0}")]
pub struct NoRandomness(getrandom::Error);

impl Sessions {
    pub fn new() -> Sessions {
        Sessions {
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Session>> {
        // A poisoned lock means a panic while holding it; the map itself is still consistent
        // (every change is one insert or remove).
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new session for `actor`, who logged in with `token`, expiring after `ttl`.
    pub fn create(
        &self,
        actor: Actor,
        token: TokenDigest,
        ttl: Duration,
    ) -> Result<Session, NoRandomness> {
        let now = Instant::now();
        let session = Session {
            id: random_token()?.into(),
            csrf: random_token()?.into(),
            actor,
            token,
            expires: now + ttl,
            created: now,
        };
        let mut table = self.table();
        table.retain(|_, s| s.expires > now);
        while table.len() >= MAX_SESSIONS {
            let oldest = table
                .values()
                .min_by_key(|s| s.created)
                .map(|s| s.id.clone());
            match oldest {
                Some(id) => table.remove(&id),
                None => break,
            };
        }
        table.insert(session.id.clone(), session.clone());
        Ok(session)
    }

    /// The live session whose id is `id`; an expired one is forgotten.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut table = self.table();
        let session = table.get(id)?;
        if session.expires > Instant::now() {
            Some(session.clone())
        } else {
            table.remove(id);
            None
        }
    }

    /// Forgets session `id` (logout).
    pub fn remove(&self, id: &str) {
        self.table().remove(id);
    }

    pub fn len(&self) -> usize {
        self.table().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new()
    }
}

/// 256 bits from the operating system's generator, as 64 hex digits.
fn random_token() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(NoRandomness)?;
    Ok(hex::encode(bytes))
}

/// The session id in a `Cookie` header, if any.
pub fn cookie_value(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value of a new session.
pub fn set_cookie(session: &Session, ttl: Duration, secure: bool) -> String {
    format!(
        "{COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session.id,
        ttl.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that makes the browser forget the session.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: TokenDigest = TokenDigest([7; 32]);

    fn actor() -> Actor {
        Actor {
            name: Arc::from("admin"),
            role: Role::Admin,
            client_ip: None,
        }
    }

    #[test]
    fn a_session_has_a_long_random_id_and_its_own_csrf_token() {
        let sessions = Sessions::new();
        let a = sessions
            .create(actor(), TOKEN, Duration::from_secs(60))
            .expect("random");
        let b = sessions
            .create(actor(), TOKEN, Duration::from_secs(60))
            .expect("random");
        assert_eq!(a.id.len(), 64);
        assert_ne!(a.id, b.id);
        assert_ne!(a.csrf, a.id);
        assert!(a.csrf_matches(&a.csrf));
        assert!(!a.csrf_matches(&b.csrf));
        assert!(!a.csrf_matches(""));
        assert_eq!(sessions.get(&a.id).map(|s| s.csrf), Some(a.csrf.clone()));
    }

    #[test]
    fn an_expired_session_is_gone_and_a_removed_one_too() {
        let sessions = Sessions::new();
        let short = sessions
            .create(actor(), TOKEN, Duration::ZERO)
            .expect("random");
        assert!(sessions.get(&short.id).is_none());
        let long = sessions
            .create(actor(), TOKEN, Duration::from_secs(60))
            .expect("random");
        sessions.remove(&long.id);
        assert!(sessions.get(&long.id).is_none());
        assert!(sessions.is_empty());
    }

    #[test]
    fn the_table_is_bounded_and_evicts_the_oldest_login() {
        let sessions = Sessions::new();
        let first = sessions
            .create(actor(), TOKEN, Duration::from_secs(60))
            .expect("random");
        for _ in 0..MAX_SESSIONS {
            sessions
                .create(actor(), TOKEN, Duration::from_secs(60))
                .expect("random");
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.get(&first.id).is_none());
    }

    #[test]
    fn a_session_follows_its_token_and_ends_when_the_token_is_gone() {
        let sessions = Sessions::new();
        let session = sessions
            .create(actor(), TOKEN, Duration::from_secs(60))
            .expect("random");
        let demoted = AdminToken {
            name: Arc::from("admin"),
            digest: [7; 32],
            role: Role::Viewer,
        };
        let now = session
            .clone()
            .current(&[demoted])
            .expect("still configured");
        assert_eq!(now.actor.role, Role::Viewer);
        let other = AdminToken {
            name: Arc::from("admin"),
            digest: [8; 32],
            role: Role::Admin,
        };
        assert!(session.current(&[other]).is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others_and_carries_its_flags() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("a=1; hookwall_session=abc; b=2"),
        );
        assert_eq!(cookie_value(&headers), Some("abc"));
        let sessions = Sessions::new();
        let session = sessions
            .create(actor(), TOKEN, Duration::from_secs(60))
            .expect("random");
        let cookie = set_cookie(&session, Duration::from_secs(60), true);
        for flag in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/ui",
            "Secure",
            "Max-Age=60",
        ] {
            assert!(cookie.contains(flag), "{cookie}");
        }
        assert!(!set_cookie(&session, Duration::from_secs(60), false).contains("Secure"));
    }
}
