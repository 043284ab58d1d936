//! `type = "email"` destinations: one SMTP message per event (the Particle case: a device event
//! becomes an e-mail to the people on call).
//!
//! The subject and body are [`template`](super::super::template)s over the event. Every message carries
//! a `Message-ID` made from the event id and the destination name, so a message sent twice
//! (at-least-once: an attempt that timed out after the server had taken it) is one message to
//! a mail client.
//!
//! How `smtp_url` is read:
//! - `smtp://host[:port]` is a plain connection (port 25 by default), for a relay on a network
//!   you trust. There is no opportunistic STARTTLS: it would be silently downgraded by anyone in
//!   the path, so it would only look safer.
//! - `smtp://host[:port]?tls=starttls` requires STARTTLS (port 587 by default) and fails rather
//!   than send anything in clear.
//! - `smtps://host[:port]` is TLS from the first byte (port 465 by default).
//! - `user:password@` (percent-encoded) is sent with AUTH, and only over TLS: credentials on a
//!   plain `smtp://` URL are refused when the destination is built.
//! - Certificates are checked against the Mozilla roots (`webpki-roots`).
//!
//! Each attempt opens its own connection and closes it afterwards. Pooled connections would save
//! a handshake, but an attempt cut off by the timeout can leave a connection mid-transaction
//! with a reply still unread; back in the pool, every later reply on it would be read as the
//! answer to the wrong command.
//!
//! Outcomes: the server's 2xx is [`Outcome::Delivered`]; a 5xx reply (a rejected recipient,
//! failed authentication) is [`Outcome::Dead`]; a 4xx reply, a network or TLS failure and the
//! timeout are [`Outcome::Retry`]. No error text holds the password.

use std::borrow::Cow;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::super::destination::{Attempt, Destination, Outcome};
use super::super::template::{self, Fields};
use crate::config::EmailDestination as Config;
use crate::store::StoredEvent;

const SMTP_PORT: u16 = 25;
const SUBMISSION_PORT: u16 = 587;
const SUBMISSIONS_PORT: u16 = 465;

pub struct SmtpSender {
    name: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    subject: String,
    body: Option<String>,
    timeout: Duration,
}

impl SmtpSender {
    /// Checks the URL and the addresses and builds the SMTP client. Connects to nothing.
    ///
    /// Must run inside a Tokio runtime (the client owns a background task); outside one it
    /// returns an error instead of panicking.
    pub fn new(name: &str, config: &Config, timeout: Duration) -> Result<SmtpSender, String> {
        let from = mailbox(&config.from).map_err(|why| format!("from: {why}"))?;
        if config.to.is_empty() {
            return Err("to: needs at least one recipient".to_owned());
        }
        let to = config
            .to
            .iter()
            .enumerate()
            .map(|(i, address)| mailbox(address).map_err(|why| format!("to[{i}]: {why}")))
            .collect::<Result<Vec<_>, _>>()?;
        let builder = transport(&config.smtp_url, timeout)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err("the SMTP client must be built inside a Tokio runtime".to_owned());
        }
        Ok(SmtpSender {
            name: name.to_owned(),
            transport: builder.build(),
            from,
            to,
            subject: config.subject.clone(),
            body: config.body.clone(),
            timeout,
        })
    }

    /// The message for one event.
    fn message(&self, event: &StoredEvent) -> Result<Message, String> {
        let fields = Fields::of(event);
        let body = match &self.body {
            Some(template) => template::body(template, &fields),
            None => template::default_body(&fields),
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(template::subject(&self.subject, &fields))
            .message_id(Some(format!(
                "<{}.{}@{}>",
                event.id,
                self.name,
                self.from.email.domain()
            )))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(body)
            .map_err(|err| format!("cannot build the message: {err}"))
    }
}

/// `text` as a mailbox (`ops@example.com` or `Ops <ops@example.com>`). The reason never quotes
/// the text, which may have come from the environment.
fn mailbox(text: &str) -> Result<Mailbox, String> {
    text.parse::<Mailbox>()
        .map_err(|err| format!("not a valid mailbox ({err})"))
}

/// The SMTP client's settings from `smtp_url` (see the module comment). Pure: nothing is
/// spawned or connected until the builder is built and used.
fn transport(url: &url::Url, timeout: Duration) -> Result<AsyncSmtpTransportBuilder, String> {
    let host = url
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or("smtp_url: has no host; write e.g. \"smtp://mail:25\"")?;
    // `[::1]` is the URL form; the TLS name and the socket address want the bare address.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !matches!(url.path(), "" | "/") {
        return Err("smtp_url: a path means nothing here; remove it".to_owned());
    }
    let mut starttls = false;
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref()) {
            ("tls", "starttls") => starttls = true,
            ("tls", _) => {
                return Err(
                    "smtp_url: `tls` takes one value, `starttls` (TLS required after connecting)"
                        .to_owned(),
                );
            }
            (other, _) => {
                return Err(format!(
                    "smtp_url: unknown query parameter `{}`; the only one is `tls=starttls`",
                    other.chars().take(40).collect::<String>()
                ));
            }
        }
    }
    let tls_parameters = || {
        TlsParameters::new(host.to_owned())
            .map_err(|err| format!("smtp_url: cannot set up TLS for this host: {err}"))
    };
    let (tls, default_port) = match (url.scheme(), starttls) {
        ("smtp", false) => (Tls::None, SMTP_PORT),
        ("smtp", true) => (Tls::Required(tls_parameters()?), SUBMISSION_PORT),
        ("smtps", false) => (Tls::Wrapper(tls_parameters()?), SUBMISSIONS_PORT),
        ("smtps", true) => {
            return Err(
                "smtp_url: `tls=starttls` is for smtp://; smtps:// is TLS from the start"
                    .to_owned(),
            );
        }
        _ => return Err("smtp_url: use smtp:// or smtps://".to_owned()),
    };
    let encrypted = !matches!(tls, Tls::None);
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(url.port().unwrap_or(default_port))
        .tls(tls)
        // Per SMTP command; the whole attempt is bounded by the same timeout in `deliver`.
        .timeout(Some(timeout))
        // No connection is kept for the next attempt (see the module comment).
        .pool_config(PoolConfig::new().min_idle(0).max_size(0));
    if let Some(credentials) = credentials(url)? {
        if !encrypted {
            return Err(
                "smtp_url: a user and password would be sent in clear; use smtps:// or add \
                 ?tls=starttls"
                    .to_owned(),
            );
        }
        builder = builder.credentials(credentials);
    }
    Ok(builder)
}

/// `user:password` from the URL, percent-decoded. Errors say what is wrong, never the value.
fn credentials(url: &url::Url) -> Result<Option<Credentials>, String> {
    let decode = |part: &str, what: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .map(Cow::into_owned)
            .map_err(|_| format!("smtp_url: the {what} is not UTF-8 once percent-decoded"))
    };
    match (url.username(), url.password()) {
        ("", None) => Ok(None),
        (_, None) => {
            Err("smtp_url: has a user but no password; write smtps://user:password@host".to_owned())
        }
        (user, Some(password)) => Ok(Some(Credentials::new(
            decode(user, "user")?,
            decode(password, "password")?,
        ))),
    }
}

/// Maps a failed send to an outcome (see the module comment).
fn classify(err: &lettre::transport::smtp::Error) -> Outcome {
    let error = format!("SMTP {err}");
    if err.is_permanent() {
        Outcome::Dead { error }
    } else {
        Outcome::Retry {
            error,
            retry_after: None,
        }
    }
}

#[async_trait::async_trait]
impl Destination for SmtpSender {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, event: &StoredEvent, _attempt: &Attempt) -> Outcome {
        if event.body.is_none() {
            return Outcome::Dead {
                error: "event body was purged".into(),
            };
        }
        let message = match self.message(event) {
            Ok(message) => message,
            Err(error) => return Outcome::Dead { error },
        };
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Outcome::Delivered,
            Ok(Err(err)) => classify(&err),
            Err(_elapsed) => Outcome::Retry {
                error: format!("SMTP timed out after {:?}", self.timeout),
                retry_after: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(smtp_url: &str) -> Config {
        Config {
            smtp_url: url::Url::parse(smtp_url).expect("test URL"),
            from: "Hookwall <hookwall@example.com>".into(),
            to: vec!["ops@example.com".into()],
            subject: "Particle {{event}} from {{coreid}}".into(),
            body: None,
        }
    }

    fn build(config: &Config) -> Result<SmtpSender, String> {
        SmtpSender::new("particle-1", config, Duration::from_secs(5))
    }

    fn error_of(config: &Config) -> String {
        match build(config) {
            Ok(_) => panic!("{config:?} was accepted"),
            Err(error) => error,
        }
    }

    #[test]
    fn a_bad_sender_is_refused_naming_from() {
        let mut c = config("smtp://mail:25");
        c.from = "not an address".into();
        let error = error_of(&c);
        assert!(error.starts_with("from: not a valid mailbox"), "{error}");
        assert!(!error.contains("not an address"), "{error}");
    }

    #[test]
    fn a_bad_recipient_is_refused_naming_its_index() {
        let mut c = config("smtp://mail:25");
        c.to = vec!["ops@example.com".into(), "nobody@".into()];
        let error = error_of(&c);
        assert!(error.starts_with("to[1]: not a valid mailbox"), "{error}");
        c.to.clear();
        assert_eq!(error_of(&c), "to: needs at least one recipient");
    }

    #[test]
    fn only_smtp_and_smtps_are_accepted() {
        let error = error_of(&config("http://mail:25"));
        assert_eq!(error, "smtp_url: use smtp:// or smtps://");
    }

    #[test]
    fn query_parameters_other_than_tls_starttls_are_refused() {
        let error = error_of(&config("smtp://mail?tls=opportunistic"));
        assert!(error.contains("`tls` takes one value"), "{error}");
        let error = error_of(&config("smtp://mail?ehlo=me"));
        assert!(error.contains("unknown query parameter `ehlo`"), "{error}");
        let error = error_of(&config("smtps://mail?tls=starttls"));
        assert!(error.contains("smtps:// is TLS from the start"), "{error}");
        let error = error_of(&config("smtp://mail/ehlo-name"));
        assert!(error.contains("a path means nothing"), "{error}");
    }

    #[test]
    fn credentials_are_refused_over_plain_smtp_and_never_shown() {
        let error = error_of(&config("smtp://mailer:s3cr3t-pa55@mail:25"));
        assert!(error.contains("sent in clear"), "{error}");
        assert!(!error.contains("s3cr3t"), "{error}");
        let error = error_of(&config("smtps://mailer@mail"));
        assert!(error.contains("no password"), "{error}");
        let error = error_of(&config("smtps://mailer:%FF%FEs3cr3t@mail"));
        assert!(error.contains("password is not UTF-8"), "{error}");
        assert!(!error.contains("s3cr3t"), "{error}");
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let url = url::Url::parse("smtps://m%40iler:p%40ss%3Aword@mail").expect("URL");
        let expected = Credentials::new("m@iler".into(), "p@ss:word".into());
        assert_eq!(credentials(&url), Ok(Some(expected)));
    }

    #[test]
    fn building_outside_a_runtime_is_an_error_not_a_panic() {
        let error = error_of(&config("smtp://mail:25"));
        assert!(error.contains("Tokio runtime"), "{error}");
    }

    #[tokio::test]
    async fn every_supported_url_form_builds() {
        for url in [
            "smtp://mail",
            "smtp://127.0.0.1:2525",
            "smtp://[::1]:2525",
            "smtp://mail:587?tls=starttls",
            "smtp://mailer:pw@mail?tls=starttls",
            "smtps://mailer:p%40ss@mail.example.com",
            "smtps://mail.example.com:2465",
        ] {
            let built = build(&config(url));
            assert!(built.is_ok(), "{url}: {:?}", built.err());
        }
    }

    #[tokio::test]
    async fn the_message_has_the_rendered_subject_and_an_id_made_from_the_event() {
        let destination = build(&config("smtp://mail")).expect("builds");
        let event = StoredEvent {
            id: "0190-abc".into(),
            source: "particle".into(),
            dedup_key: "body:00".into(),
            received_at_ms: 0,
            client_ip: "127.0.0.1".into(),
            request_id: None,
            content_type: Some("application/json".into()),
            event_type: None,
            trace_context: None,
            headers: vec![],
            body: Some(br#"{"event":"temp","coreid":"abc123"}"#.to_vec()),
            status: crate::store::EventStatus::Pending,
            attempts: 0,
            next_attempt_at_ms: 0,
            last_error: None,
        };
        let message = destination.message(&event).expect("message");
        let text = String::from_utf8(message.formatted()).expect("UTF-8");
        assert!(
            text.contains("Subject: Particle temp from abc123\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Message-ID: <0190-abc.particle-1@example.com>\r\n"),
            "{text}"
        );
        assert!(text.contains("To: ops@example.com\r\n"), "{text}");
    }
}
