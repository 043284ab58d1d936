//! A broker connection made on first use, shared by the attempts after it, and made again once
//! it broke: the queue destinations hold one each.
//!
//! Building a destination connects to nothing (`hookwall check` and start-up do not need the
//! broker); the first attempt connects. Attempts that arrive while a connection is being made
//! wait for that one instead of opening their own, each within its own timeout (the caller
//! bounds the whole attempt, connecting included). A connection the type finds broken
//! (`usable` says no) is dropped and made again by the next attempt, so deliveries resume by
//! themselves after a broker restart.
//!
//! Broker clients may print their URL in an error, and the URL may hold a password:
//! [`scrubbed`] takes it out of any text before it becomes a delivery's `last_error`.

use std::future::Future;

use tokio::sync::Mutex;

/// One destination's connection, `None` until first used or after it broke.
pub struct Reused<C> {
    current: Mutex<Option<C>>,
}

impl<C: Clone> Default for Reused<C> {
    fn default() -> Self {
        Reused {
            current: Mutex::new(None),
        }
    }
}

impl<C: Clone> Reused<C> {
    /// The current connection if `usable` says it still is, else a new one from `connect`
    /// (kept for the next attempts when it succeeds).
    pub async fn get<F, Fut>(&self, usable: impl Fn(&C) -> bool, connect: F) -> Result<C, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C, String>>,
    {
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref().filter(|c| usable(c)) {
            return Ok(connection.clone());
        }
        *current = None;
        let connection = connect().await?;
        *current = Some(connection.clone());
        Ok(connection)
    }

    /// Drops the connection, so the next attempt makes a new one (after a failure that leaves
    /// it in doubt).
    pub async fn forget(&self) {
        *self.current.lock().await = None;
    }
}

/// `error` as text with `url` (shown as `shown`) and its password, raw and percent-decoded,
/// replaced.
pub fn scrubbed(error: impl std::fmt::Display, url: &url::Url) -> String {
    let mut text = error.to_string();
    text = text.replace(url.as_str(), &shown(url));
    if let Some(password) = url.password().filter(|p| !p.is_empty()) {
        text = text.replace(password, "***");
        if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8()
            && !decoded.is_empty()
        {
            text = text.replace(decoded.as_ref(), "***");
        }
    }
    text
}

/// `url` as messages show it: without its password, and without a user name that stands alone
/// (a NATS token is written as one).
pub fn shown(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_none() && !shown.username().is_empty() {
        // Only fails for URLs that cannot have a user name, and this one has one.
        let _ = shown.set_username("***");
    }
    crate::config::redact_url(&shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_that_prints_its_url_loses_the_password() {
        let url = url::Url::parse("amqp://app:s3cr%2Ft@rabbit:5672/%2f").expect("a URL");
        let error = "cannot connect to amqp://app:s3cr%2Ft@rabbit:5672/%2f (password s3cr/t)";
        let text = scrubbed(error, &url);
        assert!(!text.contains("s3cr"), "{text}");
        assert!(text.contains("amqp://app:***@rabbit:5672/%2f"), "{text}");
    }

    #[tokio::test]
    async fn a_connection_is_made_once_and_again_after_it_broke() {
        let reused: Reused<u32> = Reused::default();
        let made = std::sync::atomic::AtomicU32::new(0);
        let connect = || async {
            Ok::<_, String>(made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1)
        };
        assert_eq!(reused.get(|_| true, connect).await, Ok(1));
        assert_eq!(reused.get(|_| true, connect).await, Ok(1));
        assert_eq!(reused.get(|_| false, connect).await, Ok(2));
        reused.forget().await;
        assert_eq!(reused.get(|_| true, connect).await, Ok(3));
        let failed = reused
            .get(|_| false, || async { Err::<u32, _>("refused".to_owned()) })
            .await;
        assert_eq!(failed, Err("refused".to_owned()));
        assert_eq!(reused.get(|_| true, connect).await, Ok(4));
    }
}
