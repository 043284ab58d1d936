//! `type = "redis"` destinations: each event appended to a Redis stream with `XADD` (SPEC
//! section 10), delivered once Redis answers with the entry's id.
//!
//! The entry's fields are the envelope's headers (`super::envelope`: `webhook-id`,
//! `webhook-timestamp`, `webhook-signature`, `x-hookwall-source`, `x-hookwall-event-type`,
//! `content-type`) and `body`, the raw body. With `maxlen`, each `XADD` trims the stream to
//! about that many entries (`MAXLEN ~`, which Redis does cheaply at whole nodes). Redis has no
//! de-duplication of its own: a reader de-duplicates on `webhook-id`, as an HTTP handler does
//! (at-least-once).
//!
//! The connection is redis-rs's `ConnectionManager`, made on the first attempt: it reconnects
//! by itself once a command failed on a broken connection, so after a Redis restart the next
//! attempts go through. The destination's `timeout` bounds every attempt.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::super::destination::{Attempt, Destination, Outcome};
use super::connection::{Reused, scrubbed, shown};
use super::envelope::Envelope;
use crate::config::RedisDestination as Config;
use crate::store::StoredEvent;

pub struct RedisSender {
    name: String,
    url: url::Url,
    client: redis::Client,
    stream: String,
    maxlen: Option<u64>,
    envelope: Envelope,
    timeout: Duration,
    connection: Reused<ConnectionManager>,
}

impl RedisSender {
    /// Connects to nothing; the error starts with the key it is about.
    pub fn new(
        name: &str,
        source: &str,
        config: &Config,
        timeout: Duration,
    ) -> Result<RedisSender, String> {
        let envelope = Envelope::new(source, config.signing_secret.as_ref())
            .map_err(|err| format!(".signing_secret: {err}"))?;
        // Parses the URL only.
        let client = redis::Client::open(config.url.as_str())
            .map_err(|err| format!(".url: {}", scrubbed(&err, &config.url)))?;
        Ok(RedisSender {
            name: name.to_owned(),
            url: config.url.clone(),
            client,
            stream: config.stream.clone(),
            maxlen: config.maxlen,
            envelope,
            timeout,
            connection: Reused::default(),
        })
    }

    async fn connect(&self) -> Result<ConnectionManager, String> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            // A reconnection that fails is tried again by the next attempt, not in a loop here.
            .set_number_of_retries(1);
        ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .map_err(|err| {
                format!(
                    "cannot connect to Redis at {}: {}",
                    shown(&self.url),
                    scrubbed(&err, &self.url)
                )
            })
    }

    async fn add(&self, event: &StoredEvent, body: &[u8], attempt: &Attempt) -> Result<(), String> {
        let mut connection = self.connection.get(|_| true, || self.connect()).await?;
        let mut command = redis::cmd("XADD");
        command.arg(&self.stream);
        if let Some(maxlen) = self.maxlen {
            command.arg("MAXLEN").arg("~").arg(maxlen);
        }
        command.arg("*");
        for (name, value) in
            self.envelope
                .headers(event, body, crate::clock::unix_now(), attempt.trace)
        {
            command.arg(name).arg(value);
        }
        command.arg("body").arg(body);
        command
            .query_async::<String>(&mut connection)
            .await
            .map(|_entry_id| ())
            .map_err(|err| {
                format!(
                    "XADD to stream `{}` at {} failed: {}",
                    self.stream,
                    shown(&self.url),
                    scrubbed(&err, &self.url)
                )
            })
    }
}

#[async_trait::async_trait]
impl Destination for RedisSender {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, event: &StoredEvent, attempt: &Attempt) -> Outcome {
        let Some(body) = event.body.as_deref() else {
            return Outcome::Dead {
                error: "event body was purged".into(),
            };
        };
        let error = match tokio::time::timeout(self.timeout, self.add(event, body, attempt)).await {
            Ok(Ok(())) => return Outcome::Delivered,
            Ok(Err(error)) => error,
            Err(_elapsed) => format!(
                "XADD to stream `{}` at {} timed out after {:?}",
                self.stream,
                shown(&self.url),
                self.timeout
            ),
        };
        Outcome::Retry {
            error,
            retry_after: None,
        }
    }
}
