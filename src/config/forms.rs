//! The form of one value: names, route paths, listen addresses, CIDRs, store and
//! destination URLs, header names, JSON Pointers, e-mail addresses.
//!
//! Each check is a pure function of the text (and of how a message may show it: see
//! [`super::env::shown`]) that returns the typed value or the message saying how to fix it. The
//! schema readers call them and attach the key's place; nothing here knows about TOML, places
//! or other keys.

use std::net::IpAddr;

use ipnet::IpNet;

use super::env::cut;
use super::model::StoreUrl;

/// Routes the public listener serves itself.
const RESERVED_PATHS: &[&str] = &["/healthz", "/readyz"];

/// `[a-z0-9][a-z0-9_-]*`: source and destination names (routes and metrics labels).
pub(crate) fn source_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A route path: starts with `/`, plain segments only, nothing the router would read as a
/// parameter or wildcard.
///
/// `shown` is how messages refer to the value (see `env::shown`); the same holds below.
pub(crate) fn route_path(path: &str, shown: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "{shown} must start with `/`, e.g. path = \"/hooks/github\""
        ));
    };
    if let Some(bad) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/._~-".contains(*c)))
    {
        return Err(format!(
            "{shown} contains `{}`; a path uses only letters, digits and / . _ ~ -",
            bad.escape_debug()
        ));
    }
    if rest.is_empty()
        || rest
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!(
            "{shown} has an empty, `.` or `..` segment (or is just `/`); write e.g. \"/hooks/github\""
        ));
    }
    if RESERVED_PATHS.contains(&path) {
        return Err(format!(
            "{shown} is served by hookwall itself; choose another path"
        ));
    }
    Ok(())
}

/// `host:port` for a listener: an IP socket address or a host name with a port.
pub(crate) fn listen_address(text: &str, shown: &str) -> Result<(), String> {
    if text.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || {
        format!(
            "{shown} is not a listen address; write host:port, e.g. \"0.0.0.0:8080\", \"[::]:8080\" or \"localhost:8080\""
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if host_ok && port.parse::<u16>().is_ok() {
        Ok(())
    } else {
        Err(bad())
    }
}

/// A CIDR, or a bare address as a single-host network. Host bits are cleared
/// (`10.1.2.3/8` means `10.0.0.0/8`, which is how matching treats it anyway).
pub(crate) fn parse_net(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net.trunc());
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// `sqlite://PATH` or `postgres://…`; also says whether the URL carries a password.
pub(crate) fn store_url(text: &str, shown: &str) -> Result<(StoreUrl, bool), String> {
    let accepted = "write \"sqlite://./data/hookwall.db\" (a file path; relative to the config \
                    file) or \"postgres://user@host/db\"";
    if let Some(path) = text.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(format!("names no database file; {accepted}"));
        }
        if path.contains('?') {
            return Err(format!(
                "sqlite options (`?…`) are not supported: hookwall sets WAL and synchronous=FULL itself; {accepted}"
            ));
        }
        return Ok((StoreUrl::Sqlite(path.into()), false));
    }
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        // Parse errors of the url crate name the problem, never the input.
        let url = url::Url::parse(text)
            .map_err(|e| format!("is not a valid PostgreSQL URL ({e}); {accepted}"))?;
        let has_password =
            url.password().is_some() || url.query_pairs().any(|(k, _)| k == "password");
        return Ok((StoreUrl::Postgres(text.to_owned()), has_password));
    }
    // Only the scheme of a URL written in the file is shown: the rest may hold a password.
    let scheme = match text.split_once("://") {
        Some((scheme, _)) if shown.starts_with('`') => format!(" `{}://`", cut(scheme)),
        _ => String::new(),
    };
    Err(format!("unsupported store{scheme}; {accepted}"))
}

/// An absolute `http://` or `https://` URL with a host.
pub(crate) fn http_url(text: &str, shown: &str) -> Result<url::Url, String> {
    let example = "write e.g. \"http://handler:8000/webhooks\"";
    // The URL parser drops leading and trailing spaces and control characters, and tabs and
    // newlines anywhere, so such a value would parse; but the text is what is used (a provider
    // that signs its URL signs the clean one), so every request would be refused. Typically a
    // `${VAR}` read from a file with a trailing newline.
    if text.trim() != text || text.chars().any(char::is_control) {
        return Err(format!(
            "has spaces or control characters around or inside it (a trailing newline from an \
             environment variable?); remove them; {example}"
        ));
    }
    url_with_host(text, shown, ["http", "https"], example)
}

/// An `smtp://` or `smtps://` URL with a host.
pub(crate) fn smtp_url(text: &str, shown: &str) -> Result<url::Url, String> {
    let example =
        "write e.g. \"smtp://mail:25\" or \"smtps://user:${SMTP_PASSWORD}@mail.example.com\"";
    url_with_host(text, shown, ["smtp", "smtps"], example)
}

/// A `nats://` or `tls://` URL with a host (credentials or a token may ride in it).
pub(crate) fn nats_url(text: &str, shown: &str) -> Result<url::Url, String> {
    let example =
        "write e.g. \"nats://nats:4222\" or \"tls://user:${NATS_PASSWORD}@nats.example.com:4222\"";
    let url = url_with_host(clean(text, example)?, shown, ["nats", "tls"], example)?;
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(format!(
            "has a path or query, which NATS does not use; write only the server, {example}"
        ));
    }
    Ok(url)
}

/// A `redis://` or `rediss://` URL with a host and an optional database number as its path.
pub(crate) fn redis_url(text: &str, shown: &str) -> Result<url::Url, String> {
    let example = "write e.g. \"redis://redis:6379/0\" or \"rediss://:${REDIS_PASSWORD}@redis.example.com/0\"";
    let url = url_with_host(clean(text, example)?, shown, ["redis", "rediss"], example)?;
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u16>().is_err() {
        return Err(format!(
            "has a path that is not a database number (the path is `/<db>`, e.g. `/0`); {example}"
        ));
    }
    Ok(url)
}

/// An `amqp://` or `amqps://` URL with a host; its path is the vhost, percent-encoded (`%2f`
/// for `/`), or empty for the default vhost.
pub(crate) fn amqp_url(text: &str, shown: &str) -> Result<url::Url, String> {
    let example = "write e.g. \"amqp://user:${AMQP_PASSWORD}@rabbitmq:5672/%2f\" (the path is the \
                   vhost, `%2f` for `/`)";
    let url = url_with_host(clean(text, example)?, shown, ["amqp", "amqps"], example)?;
    if url.path() == "/" {
        return Err(format!(
            "ends in `/`, which names the vhost \"\" (empty); write `/%2f` for the default vhost \
             `/`, or leave the path out; {example}"
        ));
    }
    if url.path().trim_start_matches('/').contains('/') {
        return Err(format!(
            "has a path of more than one segment; the path is the vhost, with a `/` in it written \
             `%2f`; {example}"
        ));
    }
    Ok(url)
}

/// A NATS publish subject: dot-separated tokens, none empty, without whitespace or the
/// wildcards `*` and `>` (a publish names one subject).
pub(crate) fn nats_subject(text: &str, shown: &str) -> Result<(), String> {
    let example = "write e.g. subject = \"webhooks.github\"";
    if text.is_empty() {
        return Err(format!("is empty; {example}"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{shown} contains whitespace or a control character, which a NATS subject cannot \
             hold; {example}"
        ));
    }
    if text.split('.').any(|token| token == "*" || token == ">") {
        return Err(format!(
            "{shown} contains a wildcard (`*` or `>`): a message is published to one subject; \
             capture several with the stream's subjects instead; {example}"
        ));
    }
    if text.split('.').any(str::is_empty) {
        return Err(format!(
            "{shown} has an empty token (a leading, trailing or doubled `.`); {example}"
        ));
    }
    Ok(())
}

/// A Redis stream key, or an AMQP routing key: one line of printable text without
/// whitespace, at most 255 bytes (an AMQP short string).
pub(crate) fn queue_name(text: &str, shown: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty; name where the messages go, e.g. \"webhooks\"".to_owned());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{shown} contains whitespace or a control character; use e.g. \"webhooks.github\""
        ));
    }
    if text.len() > 255 {
        return Err("is longer than 255 bytes".to_owned());
    }
    Ok(())
}

/// An AMQP exchange name: empty (the default exchange) or letters, digits, `-`, `_`, `.`
/// and `:`, at most 255 bytes (AMQP 0-9-1).
pub(crate) fn amqp_exchange(text: &str, shown: &str) -> Result<(), String> {
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
    {
        return Err(format!(
            "{shown} contains `{}`; an exchange name uses only letters, digits and - _ . : \
             (or write exchange = \"\" for the default exchange)",
            bad.escape_debug()
        ));
    }
    if text.len() > 255 {
        return Err("is longer than 255 bytes".to_owned());
    }
    Ok(())
}

/// `text` when it has no spaces or control characters around or inside it (the URL parser
/// would drop some silently, typically a trailing newline read from an environment file).
fn clean<'t>(text: &'t str, example: &str) -> Result<&'t str, String> {
    if text.trim() != text || text.chars().any(char::is_control) {
        return Err(format!(
            "has spaces or control characters around or inside it (a trailing newline from an \
             environment variable?); remove them; {example}"
        ));
    }
    Ok(text)
}

/// A URL with one of two `schemes` and a host; every message ends with `example`.
fn url_with_host(
    text: &str,
    shown: &str,
    schemes: [&str; 2],
    example: &str,
) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL ({e}); {example}"))?;
    if !schemes.contains(&url.scheme()) {
        let [plain, secure] = schemes;
        return Err(format!(
            "{} is not supported: use {plain} or {secure}; {example}",
            scheme_of(&url, shown)
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("has no host; {example}"));
    }
    Ok(url)
}

/// "scheme `ftp`" for a URL written in the file; for one from the environment just "the scheme"
/// (`token:abc` parses as a URL with scheme `token`, so even the scheme could be a secret's).
fn scheme_of(url: &url::Url, shown: &str) -> String {
    if shown.starts_with('`') {
        format!("scheme `{}`", cut(url.scheme()))
    } else {
        format!("the scheme of {shown}")
    }
}

/// An RFC 9110 field name (a token).
pub(crate) fn header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// A JSON Pointer (RFC 6901): empty (the whole document) or `/`-separated reference tokens in
/// which `~` is only ever followed by `0` (a `~`) or `1` (a `/`).
pub(crate) fn json_pointer(text: &str, shown: &str) -> Result<(), String> {
    if !text.is_empty() && !text.starts_with('/') {
        return Err(format!(
            "{shown} is not a JSON Pointer (RFC 6901): it must start with `/`, e.g. \"/type\" \
             or \"/data/object/type\" (a field of a form body is \"/name\")"
        ));
    }
    let mut rest = text;
    while let Some(at) = rest.find('~') {
        rest = &rest[at + 1..];
        if !rest.starts_with(['0', '1']) {
            return Err(format!(
                "{shown} is not a JSON Pointer (RFC 6901): `~` must be followed by 0 or 1; \
                 write ~0 for a `~` in a field name and ~1 for a `/`"
            ));
        }
    }
    Ok(())
}

/// A lower-cased header name that may be forwarded to a destination.
pub(crate) fn forwardable_header(name: &str, shown: &str) -> Result<(), String> {
    if !header_name(name) {
        return Err(format!("{shown} is not an HTTP header name"));
    }
    match name {
        "authorization" | "proxy-authorization" | "cookie" | "x-gitlab-token" => Err(format!(
            "`{name}` carries a credential, which is redacted in the store and never forwarded"
        )),
        "host" | "content-length" | "transfer-encoding" | "connection" | "content-type" => Err(
            format!("`{name}` is set by hookwall for the outgoing request"),
        ),
        "webhook-id"
        | "webhook-timestamp"
        | "webhook-signature"
        | "x-hookwall-source"
        | "x-hookwall-event-type" => Err(format!(
            "`{name}` is set by hookwall (it re-signs every delivery)"
        )),
        _ => Ok(()),
    }
}

/// A mailbox: `user@host` or `Name <user@host>`, on one line.
pub(crate) fn email_address(text: &str, shown: &str) -> Result<(), String> {
    if text.contains(['\r', '\n']) {
        return Err("must be one line (no line breaks)".to_owned());
    }
    let address = match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close && text.ends_with('>') => &text[open + 1..close],
        _ => text.trim(),
    };
    let valid = match address.split_once('@') {
        Some((user, host)) => {
            !user.is_empty()
                && !host.is_empty()
                && !host.contains('@')
                && !address.contains(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{shown} is not an e-mail address; write e.g. \"ops@example.com\" or \"Ops <ops@example.com>\""
        ))
    }
}
