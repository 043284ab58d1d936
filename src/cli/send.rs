//! `hookwall send` and `hookwall sign`: a request signed exactly as the source's provider signs
//! it, with the configured secret, through the same preset code that verifies it. The
//! local-development and smoke-test tool.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use http::HeaderName;

use crate::clock::unix_now;
use crate::config::Config;
use crate::providers::Preset;

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The source to sign for (its `[sources.NAME]`).
    pub source: String,
    #[command(flatten)]
    pub config_file: super::config_file::ConfigFile,
    /// The body: a file, or `-` for standard input. A small JSON test event by default.
    #[arg(long)]
    pub body: Option<PathBuf>,
    /// Where to POST. Default: the source's route on `server.listen`.
    #[arg(long)]
    pub url: Option<String>,
    /// The event type header, for providers that send one (GitHub `x-github-event`,
    /// Shopify `x-shopify-topic`).
    #[arg(long)]
    pub event: Option<String>,
    /// The event id, for providers that sign or send one. A fresh UUID by default.
    #[arg(long)]
    pub id: Option<String>,
    /// Default: JSON when the body parses as JSON, else a form.
    #[arg(long)]
    pub content_type: Option<String>,
}

/// A signed request, ready to print or send.
struct Signed {
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Event-type headers by provider; the value is the caller's `--event`.
fn event_header(provider: &str) -> Option<&'static str> {
    match provider {
        "github" => Some("x-github-event"),
        "shopify" => Some("x-shopify-topic"),
        _ => None,
    }
}

/// The default test event: shaped as the provider sends it, so it passes the provider's bundled
/// schema (`schemas/`) and the quick start's whole path answers 202.
fn sample_body(provider: &str, source: &str, id: &str) -> Vec<u8> {
    let now = unix_now();
    if provider == "particle" {
        // A Particle integration's default "Web Form" body. `coreid = api` is what Particle
        // sends for an event published through its API rather than by a device; the id in
        // `data` keeps each test event distinct for de-duplication.
        let published_at =
            jiff::Timestamp::from_second(now).map_or_else(|_| now.to_string(), |t| t.to_string());
        return url::form_urlencoded::Serializer::new(String::new())
            .append_pair("event", "hookwall-test")
            .append_pair("data", id)
            .append_pair("published_at", &published_at)
            .append_pair("coreid", "api")
            .finish()
            .into_bytes();
    }
    // Stripe keys de-duplication on the body's `id`; the others ignore it.
    serde_json::json!({
        "id": id,
        "type": "hookwall.test",
        "source": source,
        "sent_by": "hookwall send",
        "sent_at": now,
        // Linear's freshness is this signed body field (milliseconds).
        "webhookTimestamp": now.saturating_mul(1000),
    })
    .to_string()
    .into_bytes()
}

fn read_body(path: &Path) -> Result<Vec<u8>, String> {
    if path == Path::new("-") {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .map_err(|err| format!("cannot read the body from standard input: {err}"))?;
        Ok(body)
    } else {
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
    }
}

/// The public listener's address as a client reaches it (a wildcard bind means localhost).
fn local_base(listen: &str) -> String {
    let reachable = listen
        .strip_prefix("0.0.0.0:")
        .map(|port| format!("127.0.0.1:{port}"))
        .or_else(|| {
            listen
                .strip_prefix("[::]:")
                .map(|port| format!("[::1]:{port}"))
        })
        .unwrap_or_else(|| listen.to_owned());
    format!("http://{reachable}")
}

fn build(args: &SendArgs) -> Result<Signed, String> {
    let config = Config::load(&args.config_file.config).map_err(|errors| {
        format!(
            "invalid configuration in {}:\n{errors}",
            args.config_file.config.display()
        )
    })?;
    let source = config.source(&args.source).ok_or_else(|| {
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        format!(
            "no source {:?} in {}; sources: {}",
            args.source,
            args.config_file.config.display(),
            names.join(", ")
        )
    })?;
    let preset = Preset::build(
        &source.provider,
        &source.secrets,
        &source.public_keys,
        &source.overrides,
    )
    .map_err(|err| format!("sources.{}: {err}", source.name))?;
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let body = match &args.body {
        Some(path) => read_body(path)?,
        None => sample_body(&source.provider, &source.name, &id),
    };
    let content_type = args.content_type.clone().unwrap_or_else(|| {
        if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
            "application/json".to_owned()
        } else {
            "application/x-www-form-urlencoded".to_owned()
        }
    });
    let signed = preset
        .sign_request(body, unix_now(), &id)
        .map_err(|err| format!("sources.{}: {err}", source.name))?;
    let body = signed.body;
    let mut headers = vec![("content-type".to_owned(), content_type)];
    headers.extend(
        signed
            .headers
            .into_iter()
            .map(|(name, value): (HeaderName, String)| (name.as_str().to_owned(), value)),
    );
    if let Some(event) = &args.event {
        match event_header(preset.provider()) {
            Some(name) => headers.push((name.to_owned(), event.clone())),
            None => eprintln!(
                "hookwall: --event is not sent for provider {} (its event type is in the body)",
                preset.provider()
            ),
        }
    }
    let mut url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("{}{}", local_base(&config.server.listen), source.path));
    if let Some(query) = signed.query {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query);
    }
    Ok(Signed { url, headers, body })
}

/// `hookwall sign`: prints a ready-to-run `curl` command (URL, headers and the exact signed
/// body, each shell-quoted) instead of sending.
pub fn sign(args: &SendArgs) -> ExitCode {
    match build(args).and_then(|signed| curl_command(&signed)) {
        Ok(command) => {
            println!("{command}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("hookwall sign: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The request as one `curl` command. `--data-raw` sends the argument's bytes as they are (no
/// `@file` reading, no newline stripping); `-g` keeps `[]{}` in the URL literal.
fn curl_command(signed: &Signed) -> Result<String, String> {
    if signed.body.contains(&0) {
        return Err(
            "the body contains a NUL byte, which no shell argument can carry; use `hookwall send`"
                .to_owned(),
        );
    }
    let mut command = format!(
        "curl -sS -g -X POST {}",
        super::shell::quote(signed.url.as_bytes())
    );
    for (name, value) in &signed.headers {
        command.push_str(" \\\n  -H ");
        command.push_str(&super::shell::quote(format!("{name}: {value}").as_bytes()));
    }
    command.push_str(" \\\n  --data-raw ");
    command.push_str(&super::shell::quote(&signed.body));
    Ok(command)
}

/// `hookwall send`: signs and POSTs; exit 0 when the gateway answers 2xx.
pub async fn send(args: &SendArgs) -> ExitCode {
    let signed = match build(args) {
        Ok(signed) => signed,
        Err(err) => {
            eprintln!("hookwall send: {err}");
            return ExitCode::FAILURE;
        }
    };
    let client = match super::net::client("send", Duration::from_secs(30)) {
        Ok(client) => client,
        Err(code) => return code,
    };
    let mut request = client.post(&signed.url).body(signed.body);
    for (name, value) in &signed.headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            println!("{} {}", status.as_u16(), text.trim_end());
            if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("hookwall send: {}", super::net::describe(&err, &signed.url));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_reached_on_localhost() {
        assert_eq!(local_base("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(local_base("[::]:8080"), "http://[::1]:8080");
        assert_eq!(local_base("10.1.2.3:80"), "http://10.1.2.3:80");
    }
}
