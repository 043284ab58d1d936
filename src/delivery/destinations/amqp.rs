//! `type = "amqp"` destinations: each event published to an exchange with a routing key
//! (RabbitMQ, AMQP 0-9-1), delivered once the broker confirms it (SPEC section 10).
//!
//! The message is the raw body, persistent (`delivery_mode` 2), with the envelope's headers
//! (`super::envelope`) as its header table, the original content type also as its
//! `content_type` property, and the event id as its `message_id`. The channel is in confirm
//! mode and every publish is `mandatory`: a message no queue takes comes back (`basic.return`)
//! and the attempt fails with an error naming the exchange and routing key, as does a `nack`.
//!
//! The connection (lapin, on tokio) and its one channel are made on the first attempt and
//! shared by the attempts after it; once the broker closed the channel (a restart, an error)
//! the next attempt opens a new connection. An attempt whose outcome is in doubt (the publish
//! failed mid-way, the confirmation did not come in time) drops the connection too. The
//! destination's `timeout` bounds every attempt, connecting and the confirmation included.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};

use super::super::destination::{Attempt, Destination, Outcome};
use super::connection::{Reused, scrubbed, shown};
use super::envelope::Envelope;
use crate::config::AmqpDestination as Config;
use crate::store::StoredEvent;

/// `delivery_mode` of a message the broker writes to disk.
const PERSISTENT: u8 = 2;

pub struct AmqpSender {
    name: String,
    url: url::Url,
    exchange: String,
    routing_key: String,
    envelope: Envelope,
    timeout: Duration,
    link: Reused<Arc<Link>>,
}

/// A connection and the confirm-mode channel opened on it.
struct Link {
    /// Kept so the connection lives as long as its channel is used.
    _connection: Connection,
    channel: lapin::Channel,
}

impl AmqpSender {
    /// Connects to nothing; the error starts with the key it is about.
    pub fn new(
        name: &str,
        source: &str,
        config: &Config,
        timeout: Duration,
    ) -> Result<AmqpSender, String> {
        let envelope = Envelope::new(source, config.signing_secret.as_ref())
            .map_err(|err| format!(".signing_secret: {err}"))?;
        // The URL's own checks (`lapin::uri`), so a URL it cannot read fails `hookwall check`.
        config
            .url
            .as_str()
            .parse::<lapin::uri::AMQPUri>()
            .map_err(|err| format!(".url: {}", scrubbed(&err, &config.url)))?;
        Ok(AmqpSender {
            name: name.to_owned(),
            url: config.url.clone(),
            exchange: config.exchange.clone(),
            routing_key: config.routing_key.clone(),
            envelope,
            timeout,
            link: Reused::default(),
        })
    }

    async fn connect(&self) -> Result<Arc<Link>, String> {
        let failed = |err: lapin::Error| {
            format!(
                "cannot connect to the AMQP broker at {}: {}",
                shown(&self.url),
                scrubbed(&err, &self.url)
            )
        };
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("hookwall {}", self.name).into());
        let connection = Connection::connect(self.url.as_str(), properties)
            .await
            .map_err(failed)?;
        let channel = connection.create_channel().await.map_err(failed)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(failed)?;
        Ok(Arc::new(Link {
            _connection: connection,
            channel,
        }))
    }

    fn properties(&self, event: &StoredEvent, body: &[u8], attempt: &Attempt) -> BasicProperties {
        let mut headers = FieldTable::default();
        for (name, value) in
            self.envelope
                .headers(event, body, crate::clock::unix_now(), attempt.trace)
        {
            headers.insert(
                ShortString::from(name),
                AMQPValue::LongString(LongString::from(value)),
            );
        }
        let mut properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_message_id(ShortString::from(event.id.as_str()))
            .with_headers(headers);
        if let Some(content_type) = event.content_type.as_deref().filter(|ct| ct.len() <= 255) {
            properties = properties.with_content_type(ShortString::from(content_type));
        }
        properties
    }

    async fn publish(
        &self,
        event: &StoredEvent,
        body: &[u8],
        attempt: &Attempt,
    ) -> Result<(), Failure> {
        let link = self
            .link
            .get(|link| link.channel.status().connected(), || self.connect())
            .await
            .map_err(Failure::Connect)?;
        let broken = |err: lapin::Error| {
            Failure::Broken(format!(
                "publish to exchange `{}` at {} failed: {}",
                self.exchange,
                shown(&self.url),
                scrubbed(&err, &self.url)
            ))
        };
        let confirmation = link
            .channel
            .basic_publish(
                ShortString::from(self.exchange.as_str()),
                ShortString::from(self.routing_key.as_str()),
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                body,
                self.properties(event, body, attempt),
            )
            .await
            .map_err(broken)?
            .await
            .map_err(broken)?;
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                Err(Failure::Refused(format!(
                    "unroutable: the broker returned the message ({} {}): no queue is bound to \
                     exchange `{}` with routing key `{}`",
                    returned.reply_code, returned.reply_text, self.exchange, self.routing_key
                )))
            }
            Confirmation::Nack(None) => Err(Failure::Refused(format!(
                "the broker refused (nack) the message for exchange `{}`",
                self.exchange
            ))),
            Confirmation::NotRequested => Err(Failure::Broken(
                "the channel is not in confirm mode".to_owned(),
            )),
        }
    }
}

/// Why an attempt failed, and so whether its connection can be used again.
enum Failure {
    /// No connection could be made.
    Connect(String),
    /// The connection or channel failed mid-publish, or the confirmation never came: made anew.
    Broken(String),
    /// The broker answered (returned or nacked the message): the connection is fine.
    Refused(String),
}

#[async_trait::async_trait]
impl Destination for AmqpSender {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, event: &StoredEvent, attempt: &Attempt) -> Outcome {
        let Some(body) = event.body.as_deref() else {
            return Outcome::Dead {
                error: "event body was purged".into(),
            };
        };
        let error =
            match tokio::time::timeout(self.timeout, self.publish(event, body, attempt)).await {
                Ok(Ok(())) => return Outcome::Delivered,
                Ok(Err(Failure::Connect(error) | Failure::Refused(error))) => error,
                Ok(Err(Failure::Broken(error))) => {
                    self.link.forget().await;
                    error
                }
                Err(_elapsed) => {
                    self.link.forget().await;
                    format!(
                        "AMQP publish to exchange `{}` at {} was not confirmed within {:?}",
                        self.exchange,
                        shown(&self.url),
                        self.timeout
                    )
                }
            };
        Outcome::Retry {
            error,
            retry_after: None,
        }
    }
}
