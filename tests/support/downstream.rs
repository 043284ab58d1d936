//! The internal handler the gateway delivers to: a real HTTP server on 127.0.0.1 that records
//! every request it gets (when, path, headers, body) and answers from a script, then with a
//! steady answer (`200 ok` unless the test says otherwise). Every test that needs a downstream
//! starts one of these.
// Each test binary that includes this file uses a part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// One request as the downstream got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    /// The wall clock at arrival, to compare with times the gateway reports.
    pub wall: SystemTime,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    /// The body's JSON field `n` (the tests number their events so).
    pub fn n(&self) -> Option<u64> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("n")?
            .as_u64()
    }
}

/// What the downstream answers to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    /// How long this answer takes, after the downstream's own delay.
    after: Duration,
}

impl Answer {
    /// `status` with the body `ok`.
    pub fn status(status: u16) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).expect("a valid status code"),
            headers: Vec::new(),
            body: Bytes::from_static(b"ok"),
            after: Duration::ZERO,
        }
    }

    /// This answer only after `delay` (one slow answer among quick ones).
    pub fn after(mut self, delay: Duration) -> Answer {
        self.after = delay;
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Answer {
        self.headers.push((
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("a valid header value"),
        ));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Answer {
        self.body = body.into();
        self
    }
}

type Respond = Arc<dyn Fn(&Received) -> Answer + Send + Sync>;

/// How a downstream behaves; [`Downstream::start`] for the plain one.
pub struct Builder {
    script: VecDeque<Answer>,
    otherwise: Respond,
    delay: Duration,
    record_on_arrival: bool,
}

impl Builder {
    /// The first answers, in order; after them, the steady answer.
    pub fn script(mut self, answers: impl IntoIterator<Item = Answer>) -> Builder {
        self.script.extend(answers);
        self
    }

    /// The steady answer.
    pub fn always(self, answer: Answer) -> Builder {
        self.respond(move |_| answer.clone())
    }

    /// The steady answer, made from the request.
    pub fn respond(
        mut self,
        respond: impl Fn(&Received) -> Answer + Send + Sync + 'static,
    ) -> Builder {
        self.otherwise = Arc::new(respond);
        self
    }

    /// A slow handler: each request takes `delay`, and counts as received once handled (a
    /// request cut off before, by a gateway killed mid-delivery, is not recorded).
    pub fn slow(mut self, delay: Duration) -> Builder {
        self.delay = delay;
        self
    }

    /// Records each request on arrival, before the delay of [`Builder::slow`].
    pub fn record_on_arrival(mut self) -> Builder {
        self.record_on_arrival = true;
        self
    }

    pub async fn start(self) -> Downstream {
        let shared = Arc::new(Shared {
            received: Mutex::default(),
            script: Mutex::new(self.script),
            otherwise: self.otherwise,
            delay: self.delay,
            record_on_arrival: self.record_on_arrival,
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a downstream port");
        let addr = listener.local_addr().expect("the downstream's address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Downstream { addr, shared }
    }
}

struct Shared {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Answer>>,
    otherwise: Respond,
    delay: Duration,
    record_on_arrival: bool,
}

/// A running downstream; it serves until the test's runtime ends.
#[derive(Clone)]
pub struct Downstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Downstream {
    /// A downstream answering `200 ok` to every request on any path.
    pub async fn start() -> Downstream {
        Downstream::builder().start().await
    }

    pub fn builder() -> Builder {
        Builder {
            script: VecDeque::new(),
            otherwise: Arc::new(|_| Answer::status(200)),
            delay: Duration::ZERO,
            record_on_arrival: false,
        }
    }

    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.shared.received.lock().expect("lock").len()
    }

    /// Waits until `n` requests arrived (bounded).
    pub async fn wait_for(&self, n: usize, limit: Duration) {
        let started = Instant::now();
        while self.count() < n {
            assert!(
                started.elapsed() < limit,
                "downstream got {} of {n} requests in {limit:?}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let received = Received {
        at: Instant::now(),
        wall: SystemTime::now(),
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
    };
    if shared.record_on_arrival {
        shared.received.lock().expect("lock").push(received.clone());
    }
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let next = shared.script.lock().expect("lock").pop_front();
    let answer = next.unwrap_or_else(|| (shared.otherwise)(&received));
    if !answer.after.is_zero() {
        tokio::time::sleep(answer.after).await;
    }
    if !shared.record_on_arrival {
        shared.received.lock().expect("lock").push(received);
    }
    let mut response = (answer.status, answer.body).into_response();
    for (name, value) in answer.headers {
        response.headers_mut().insert(name, value);
    }
    response
}
