//! The rules about what values mean: name and path syntax, URLs, and the fail-closed checks of
//! SPEC section 1 (no source is ever left open by a missing secret or allowlist). The loader
//! calls these while it walks the file; the ones that span several sources run after the walk.

use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;

use super::load::{Ctx, Tbl, cut};
use super::{ConfigErrorKind, Destination, Mode, Server, Source, Storage, StoreUrl};

/// Providers that verify with a public key *or* a shared secret (Standard Webhooks `v1a,`).
const SECRET_OR_PUBLIC_KEY: &[&str] = &["standard-webhooks", "svix"];
/// Providers that verify with a public key only (for when their presets land).
const PUBLIC_KEY_ONLY: &[&str] = &["discord", "sendgrid"];
/// Routes the public listener serves itself.
const RESERVED_PATHS: &[&str] = &["/healthz", "/readyz"];

/// `[a-z0-9][a-z0-9_-]*`: source and destination names (routes and metrics labels).
pub(super) fn source_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A route path: starts with `/`, plain segments only, nothing the router would read as a
/// parameter or wildcard.
///
/// `shown` is how messages refer to the value (see `load::shown`); the same holds below.
pub(super) fn route_path(path: &str, shown: &str) -> Result<(), String> {
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
pub(super) fn listen_address(text: &str, shown: &str) -> Result<(), String> {
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
pub(super) fn parse_net(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net.trunc());
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// `sqlite://PATH` or `postgres://…`; also says whether the URL carries a password.
pub(super) fn store_url(text: &str, shown: &str) -> Result<(StoreUrl, bool), String> {
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
pub(super) fn http_url(text: &str, shown: &str) -> Result<url::Url, String> {
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
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL ({e}); {example}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{} is not supported: use http or https; {example}",
            scheme_of(&url, shown)
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("has no host; {example}"));
    }
    Ok(url)
}

/// An `smtp://` or `smtps://` URL with a host.
pub(super) fn smtp_url(text: &str, shown: &str) -> Result<url::Url, String> {
    let example =
        "write e.g. \"smtp://mail:25\" or \"smtps://user:${SMTP_PASSWORD}@mail.example.com\"";
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL ({e}); {example}"))?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(format!(
            "{} is not supported: use smtp or smtps; {example}",
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
pub(super) fn header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// A lower-cased header name that may be forwarded to a destination.
pub(super) fn forwardable_header(name: &str, shown: &str) -> Result<(), String> {
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
        "webhook-id" | "webhook-timestamp" | "webhook-signature" | "x-hookwall-source" => Err(
            format!("`{name}` is set by hookwall (it re-signs every delivery)"),
        ),
        _ => Ok(()),
    }
}

/// A mailbox: `user@host` or `Name <user@host>`, on one line.
pub(super) fn email_address(text: &str, shown: &str) -> Result<(), String> {
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

/// `secrets` or `public_keys` of one source as read, before the fail-closed judgement.
pub(super) struct Material {
    /// The key was written (even if every entry was empty).
    pub(super) present: bool,
    pub(super) place: String,
    pub(super) span: Option<Range<usize>>,
    /// Non-empty entries.
    pub(super) values: Vec<String>,
    /// Variables the entries named, for "set VAR" hints.
    pub(super) vars: Vec<String>,
}

impl Material {
    pub(super) fn absent() -> Self {
        Material {
            present: false,
            place: String::new(),
            span: None,
            values: Vec::new(),
            vars: Vec::new(),
        }
    }
}

/// What [`key_material`] judges for one source.
pub(super) struct Keys<'a> {
    pub(super) source: &'a str,
    pub(super) provider: &'a str,
    pub(super) secrets: &'a Material,
    pub(super) public_keys: &'a Material,
    /// `None` when it could not be read (its error is already reported).
    pub(super) allow_ips: Option<&'a [IpNet]>,
    /// Where `allow_ips` was written on the source, if it was (else it came from `[defaults]`).
    pub(super) allow_ips_place: Option<(String, Range<usize>)>,
}

/// Fail closed (SPEC section 1): a source that verifies nothing and admits everyone is an
/// error, never a route.
pub(super) fn key_material(cx: &mut Ctx, table: &Tbl, keys: Keys) {
    let Keys {
        source,
        provider,
        secrets,
        public_keys,
        allow_ips,
        ..
    } = &keys;
    let uses_secrets = !PUBLIC_KEY_ONLY.contains(provider) && *provider != "none";
    let uses_public_keys =
        SECRET_OR_PUBLIC_KEY.contains(provider) || PUBLIC_KEY_ONLY.contains(provider);

    if *provider == "none" {
        if !secrets.values.is_empty() {
            refuse(
                cx,
                secrets,
                "provider = \"none\" verifies nothing, so these secrets would protect nothing; \
                 choose the provider that uses them (e.g. \"token\") or remove secrets",
            );
        }
        let everyone = allow_ips.is_some_and(|nets| nets.iter().any(|n| n.prefix_len() == 0));
        let (place, span) = keys
            .allow_ips_place
            .clone()
            .map_or((table.place.clone(), None), |(p, s)| (p, Some(s)));
        if allow_ips.is_none() {
            // Unreadable: its own error says what to fix; judging it here would only repeat it.
        } else if allow_ips.is_some_and(<[IpNet]>::is_empty) {
            cx.fail(
                &table.place,
                table.span(),
                ConfigErrorKind::Invalid(format!(
                    "provider = \"none\" verifies nothing, so source `{source}` needs allow_ips \
                     (the sender's CIDRs); without it the route would be open to anyone"
                )),
            );
        } else if everyone {
            cx.fail(
                &place,
                span,
                ConfigErrorKind::Invalid(format!(
                    "contains a /0 network, which admits everyone; with provider = \"none\" source \
                     `{source}` would be open: list the sender's CIDRs"
                )),
            );
        } else {
            cx.warn(format!(
                "UNVERIFIED SOURCE: sources.{source} has provider = \"none\": requests are \
                 checked only against allow_ips, anyone inside those networks can post events"
            ));
        }
    }

    if !public_keys.values.is_empty() && !uses_public_keys {
        refuse(
            cx,
            public_keys,
            &format!("provider `{provider}` does not verify with public keys; remove public_keys"),
        );
    }

    let has_secret = !secrets.values.is_empty();
    let has_public_key = !public_keys.values.is_empty();
    let satisfied = match (uses_secrets, uses_public_keys) {
        (false, false) => true, // "none", judged above
        (true, false) => has_secret,
        (false, true) => has_public_key,
        (true, true) => has_secret || has_public_key,
    };
    if satisfied {
        return;
    }
    let wanted = match (uses_secrets, uses_public_keys) {
        (true, true) => "at least one secret (or public key)",
        (false, true) => "at least one public key",
        _ => "at least one secret",
    };
    let (material, key) = if uses_secrets {
        (*secrets, "secrets")
    } else {
        (*public_keys, "public_keys")
    };
    if material.present {
        let set = if material.vars.is_empty() {
            String::new()
        } else {
            format!("set {}, or ", material.vars.join(", "))
        };
        refuse(
            cx,
            material,
            &format!(
                "every entry is empty (after ${{VAR}} substitution) and provider `{provider}` \
                 needs {wanted}: {set}write the {key}; a source is never left unverified"
            ),
        );
    } else {
        cx.fail(
            &table.place,
            table.span(),
            ConfigErrorKind::Missing {
                key: if uses_secrets {
                    "secrets"
                } else {
                    "public_keys"
                },
                fix: format!(
                    "provider `{provider}` needs {wanted} for source `{source}`: add e.g. \
                     {key} = [\"${{{}_WEBHOOK_SECRET}}\"] (or provider = \"none\" with allow_ips \
                     for a sender that cannot sign)",
                    source.to_ascii_uppercase().replace('-', "_")
                ),
            },
        );
    }
}

fn refuse(cx: &mut Ctx, material: &Material, message: &str) {
    cx.fail(
        &material.place,
        material.span.clone(),
        ConfigErrorKind::Invalid(message.to_owned()),
    );
}

/// Proxy mode needs exactly one HTTP destination; names are unique within a source.
pub(super) fn destinations(cx: &mut Ctx, table: &Tbl, mode: Mode, destinations: &[Destination]) {
    let mut seen: Vec<&str> = Vec::new();
    for d in destinations {
        if seen.contains(&d.name()) {
            cx.invalid_table(
                table,
                format!(
                    "two destinations are named `{}`; give each its own name",
                    d.name()
                ),
            );
        }
        seen.push(d.name());
    }
    if mode == Mode::Proxy && !matches!(destinations, [Destination::Http(_)]) {
        cx.invalid_table(
            table,
            "mode = \"proxy\" returns the destination's answer to the provider, so it needs \
             exactly one destination, of type \"http\"",
        );
    }
    if destinations.is_empty() && mode == Mode::Queue {
        cx.warn(format!(
            "{} has no destinations: its events are stored but never delivered",
            table.place
        ));
    }
}

/// Destination names are unique across the file (SPEC section 10): claims, metrics and the
/// admin API name a destination by its name alone, so two of one name would share a pace.
pub(super) fn unique_destination_names(cx: &mut Ctx, sources: &[(Source, Range<usize>)]) {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (source, span) in sources {
        for destination in &source.destinations {
            let name = destination.name();
            match seen.iter().find(|(seen_name, _)| *seen_name == name) {
                // Within one source, `destinations` has said it already.
                Some((_, owner)) if *owner != source.name => cx.fail(
                    &format!("sources.{}.destinations", source.name),
                    Some(span.clone()),
                    ConfigErrorKind::Invalid(format!(
                        "a destination of source `{owner}` is already named `{name}`;                          destination names are unique across the file"
                    )),
                ),
                Some(_) => {}
                None => seen.push((name, &source.name)),
            }
        }
    }
}

/// Two sources may not share a route.
pub(super) fn unique_paths(cx: &mut Ctx, sources: &[(Source, Range<usize>)]) {
    for (i, (source, span)) in sources.iter().enumerate() {
        if let Some((first, _)) = sources[..i].iter().find(|(s, _)| s.path == source.path) {
            cx.fail(
                &format!("sources.{}.path", source.name),
                Some(span.clone()),
                ConfigErrorKind::Invalid(format!(
                    "`{}` is already the path of source `{}`; two sources may not share a route",
                    source.path, first.name
                )),
            );
        }
    }
}

/// Settings that load but are probably not what the operator meant.
pub(super) fn server_warnings(cx: &mut Ctx, server: &Server) {
    if server.admin_token.is_none() {
        cx.warn(
            "server.admin_token is not set, so the admin API is closed: every /admin/* request \
             is answered 401 (and the CLI's events/dlq commands cannot work); set admin_token = \
             \"${HOOKWALL_ADMIN_TOKEN}\" to open it to holders of the token"
                .to_owned(),
        );
    }
    if server.require_https && server.trusted_proxies.is_empty() {
        cx.warn(
            "server.require_https = true but server.trusted_proxies is empty: X-Forwarded-Proto \
             is believed only from a trusted proxy, so every webhook will be refused with 403"
                .to_owned(),
        );
    }
    if server.trusted_proxies.iter().any(|n| n.prefix_len() == 0) {
        cx.warn(
            "server.trusted_proxies contains a /0 network: any client can forge \
             X-Forwarded-For and X-Forwarded-Proto, which defeats allow_ips and require_https"
                .to_owned(),
        );
    }
}

/// `[storage]` values that load but will not do what the operator expects.
pub(super) fn storage_warnings<'s>(
    cx: &mut Ctx,
    storage: &Storage,
    sources: impl Iterator<Item = &'s Source>,
) {
    if matches!(storage.url, StoreUrl::Sqlite(_))
        && storage.max_connections != Storage::default().max_connections
    {
        cx.warn(
            "storage.max_connections sizes the PostgreSQL pool; the SQLite store ignores it"
                .to_owned(),
        );
    }
    // A claim that lapses while its attempt still runs lets a second worker deliver the same
    // event at the same time: at-least-once still holds, but every slow attempt doubles.
    for source in sources {
        for (i, destination) in source.destinations.iter().enumerate() {
            if destination.timeout() >= storage.lease {
                cx.warn(format!(
                    "sources.{}.destinations[{i}].timeout ({:?}) is not shorter than \
                     storage.lease ({:?}): an attempt still running when its lease lapses is \
                     started again by another worker; keep storage.lease well above every timeout",
                    source.name,
                    destination.timeout(),
                    storage.lease
                ));
            }
        }
    }
}
