//! One file per destination type, each implementing [`super::Destination`]: `http` (a POST to an
//! internal handler), `email` (an SMTP message), and the queues `nats` (a JetStream publish),
//! `redis` (an `XADD` to a stream) and `amqp` (a confirmed RabbitMQ publish).
//!
//! What they share: `envelope` builds what every message carries (the Standard Webhooks
//! headers, the source, the event type, the content type), so a handler verifies one scheme
//! whatever the transport; `connection` holds a broker connection made on first use, kept
//! across attempts and made again once it broke. Adding a type is one file here, one `TYPES`
//! line in `config/schema/destinations.rs` and one arm in `super::registry`.

pub mod amqp;
pub mod connection;
pub mod email;
pub mod envelope;
pub mod http;
pub mod nats;
pub mod redis;
