//! The message brokers of the queue destination tests: NATS with JetStream, Redis and RabbitMQ
//! on this machine (`.ci/run` makes sure they answer), read back with each one's own client
//! crate, and a TCP proxy a test cuts and restores between the gateway and a broker.
//!
//! Each test makes what it needs under a unique name (a stream, a key, an exchange and its
//! queue) and removes it when the guard goes out of scope, also when the test fails: like
//! `pg.rs`, the guard's `Drop` removes it from a thread with a runtime of its own. A test whose
//! broker does not answer prints "skipped: …" and returns.
// Each test binary that includes this file uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub const NATS_ADDR: &str = "127.0.0.1:4222";
pub const REDIS_ADDR: &str = "127.0.0.1:6379";
pub const AMQP_ADDR: &str = "127.0.0.1:5672";
/// RabbitMQ's own account, which it accepts from localhost only.
pub const AMQP_USER: &str = "guest:guest";

/// A name no other test run uses: `prefix` and 12 hex digits.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{prefix}{}", &id[id.len() - 12..])
}

/// Whether `what` answers on `addr` within a second; prints why the test is skipped if not.
pub async fn answers(what: &str, addr: &str) -> bool {
    let connected = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await;
    if matches!(connected, Ok(Ok(_))) {
        true
    } else {
        eprintln!("skipped: no {what} answers on {addr}");
        false
    }
}

/// Runs `cleanup` to completion from a thread with a runtime of its own (usable in `Drop`).
fn clean_up<F>(what: String, cleanup: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = Result<(), String>>,
{
    let done = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), cleanup()).await })
            .map_err(|_| "timed out".to_owned())?
    })
    .join();
    match done {
        Ok(Ok(())) => {}
        Ok(Err(err)) => eprintln!("could not remove {what}: {err}"),
        Err(_) => eprintln!("could not remove {what}: the thread panicked"),
    }
}

/// A JetStream stream capturing one subject of its own; deleted on drop.
pub struct NatsStream {
    pub name: String,
    pub subject: String,
    jetstream: async_nats::jetstream::Context,
}

impl NatsStream {
    /// `None` (after printing why) when no NATS server with JetStream answers.
    pub async fn create() -> Option<NatsStream> {
        if !answers("NATS server", NATS_ADDR).await {
            return None;
        }
        let client = async_nats::connect(NATS_ADDR)
            .await
            .expect("connects to NATS");
        let jetstream = async_nats::jetstream::new(client);
        let name = unique("HOOKWALL_TEST_");
        let subject = unique("hookwall.test.");
        let created = jetstream
            .create_stream(async_nats::jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![subject.clone()],
                ..Default::default()
            })
            .await;
        if let Err(err) = created {
            eprintln!("skipped: NATS answers but JetStream does not ({err})");
            return None;
        }
        Some(NatsStream {
            name,
            subject,
            jetstream,
        })
    }

    /// The messages in the stream, oldest first.
    pub async fn messages(&self) -> Vec<async_nats::jetstream::message::StreamMessage> {
        let mut stream = self.jetstream.get_stream(&self.name).await.expect("stream");
        let state = stream.info().await.expect("stream info").state.clone();
        let mut messages = Vec::new();
        for sequence in state.first_sequence..=state.last_sequence {
            if state.messages == 0 {
                break;
            }
            if let Ok(message) = stream.get_raw_message(sequence).await {
                messages.push(message);
            }
        }
        messages
    }
}

impl Drop for NatsStream {
    fn drop(&mut self) {
        let name = self.name.clone();
        clean_up(format!("NATS stream {name}"), move || async move {
            let client = async_nats::connect(NATS_ADDR)
                .await
                .map_err(|e| e.to_string())?;
            async_nats::jetstream::new(client)
                .delete_stream(&name)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    }
}

/// A Redis stream key of its own; deleted on drop.
pub struct RedisStream {
    pub key: String,
    connection: redis::aio::MultiplexedConnection,
}

/// One stream entry: its fields by name.
pub type Entry = HashMap<String, Vec<u8>>;

/// What `XRANGE` answers: each entry's id and its fields in order.
type Range = Vec<(String, Vec<(String, Vec<u8>)>)>;

impl RedisStream {
    /// `None` (after printing why) when no Redis answers.
    pub async fn create() -> Option<RedisStream> {
        if !answers("Redis", REDIS_ADDR).await {
            return None;
        }
        let client = redis::Client::open(format!("redis://{REDIS_ADDR}/0")).expect("a URL");
        let connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connects to Redis");
        Some(RedisStream {
            key: unique("hookwall-test-"),
            connection,
        })
    }

    /// Every entry of the stream, oldest first.
    pub async fn entries(&self) -> Vec<Entry> {
        let mut connection = self.connection.clone();
        let entries: Range = redis::cmd("XRANGE")
            .arg(&self.key)
            .arg("-")
            .arg("+")
            .query_async(&mut connection)
            .await
            .expect("XRANGE");
        entries
            .into_iter()
            .map(|(_id, fields)| fields.into_iter().collect())
            .collect()
    }
}

impl Drop for RedisStream {
    fn drop(&mut self) {
        let key = self.key.clone();
        clean_up(format!("Redis key {key}"), move || async move {
            let client = redis::Client::open(format!("redis://{REDIS_ADDR}/0"))
                .map_err(|e| e.to_string())?;
            let mut connection = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| e.to_string())?;
            redis::cmd("DEL")
                .arg(&key)
                .query_async::<i64>(&mut connection)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    }
}

/// A direct exchange of its own with one queue bound under `routing_key`; both deleted on drop.
pub struct AmqpQueue {
    pub exchange: String,
    pub queue: String,
    pub routing_key: String,
    _connection: lapin::Connection,
    channel: lapin::Channel,
}

impl AmqpQueue {
    /// `None` (after printing why) when no RabbitMQ answers.
    pub async fn create() -> Option<AmqpQueue> {
        if !answers("RabbitMQ", AMQP_ADDR).await {
            return None;
        }
        let connection = lapin::Connection::connect(
            &format!("amqp://{AMQP_USER}@{AMQP_ADDR}/%2f"),
            lapin::ConnectionProperties::default(),
        )
        .await
        .expect("connects to RabbitMQ");
        let channel = connection.create_channel().await.expect("channel");
        let (exchange, queue) = (unique("hookwall-test-x-"), unique("hookwall-test-q-"));
        let routing_key = "github".to_owned();
        channel
            .exchange_declare(
                exchange.as_str().into(),
                lapin::ExchangeKind::Direct,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("exchange declared");
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("queue declared");
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                routing_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("queue bound");
        Some(AmqpQueue {
            exchange,
            queue,
            routing_key,
            _connection: connection,
            channel,
        })
    }

    /// Takes every message waiting in the queue.
    pub async fn take_all(&self) -> Vec<lapin::message::BasicGetMessage> {
        let mut messages = Vec::new();
        while let Some(message) = self
            .channel
            .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
        {
            messages.push(message);
        }
        messages
    }
}

impl Drop for AmqpQueue {
    fn drop(&mut self) {
        let (exchange, queue) = (self.exchange.clone(), self.queue.clone());
        clean_up(format!("AMQP exchange {exchange}"), move || async move {
            let connection = lapin::Connection::connect(
                &format!("amqp://{AMQP_USER}@{AMQP_ADDR}/%2f"),
                lapin::ConnectionProperties::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
            let channel = connection
                .create_channel()
                .await
                .map_err(|e| e.to_string())?;
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(|e| e.to_string())?;
            channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await
                .map_err(|e| e.to_string())
        });
    }
}

/// A TCP proxy on a port of its own to `upstream`: cut, it refuses connections and has closed
/// every one it carried, as a broker that went down; restored, it accepts again on the same
/// port, as the broker back up. It can also swallow what the broker answers while passing on
/// what the client sends (an acknowledgement lost on the way back).
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    swallow: Arc<AtomicBool>,
    tasks: Option<JoinSet<()>>,
}

impl Proxy {
    /// A proxy to `upstream`, cut (its port reserved, nothing listening) until restored.
    pub fn cut_to(upstream: &str) -> Proxy {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        Proxy {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            upstream: upstream.parse().expect("an address"),
            swallow: Arc::default(),
            tasks: None,
        }
    }

    /// Listens again on the same port and carries new connections.
    pub async fn restore(&mut self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebinds its port");
        let (upstream, swallow) = (self.upstream, self.swallow.clone());
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut carried = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let swallow = swallow.clone();
                carried.spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        carry(client, server, swallow).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Closes the listener and every connection carried (the tasks are aborted, the sockets
    /// dropped).
    pub fn cut(&mut self) {
        self.tasks = None;
    }

    /// While set, the broker's bytes are read and dropped instead of passed on.
    pub fn swallow_answers(&self, swallow: bool) {
        self.swallow.store(swallow, Ordering::SeqCst);
    }
}

async fn carry(client: TcpStream, server: TcpStream, swallow: Arc<AtomicBool>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    };
    let down = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if !swallow.load(Ordering::SeqCst)
                        && client_write.write_all(&buffer[..n]).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}
