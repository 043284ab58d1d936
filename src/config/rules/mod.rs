//! The rules about what values mean together: the fail-closed checks of SPEC section 1 (no
//! source is ever left open by a missing secret or allowlist), proxy mode and destination
//! names, unique routes, each source's preset ([`preset`]), and the settings that load but
//! deserve a warning.
//!
//! Every rule is a pure function from typed values, plus the [`Spot`]s (places and spans) it
//! may point at, to [`Finding`]s. Rules never see the file, the reader or each other; the
//! loader decides when a rule runs (only on values that were read) and turns its findings into
//! errors with lines. So each rule can be read, and tested, alone.
//!
//! - **Key material (fail closed).** Every provider except `none` needs at least one non-empty
//!   secret; `standard-webhooks`/`svix` may use `public_keys` (`whpk_…`) instead, and the
//!   public-key-only providers (`discord`, `sendgrid`) need `public_keys`. `provider = "none"`
//!   needs a non-empty `allow_ips` that is not `0.0.0.0/0` or `::/0`, refuses `secrets` (they
//!   would protect nothing) and adds a warning.
//! - **`mode = "proxy"`** needs exactly one destination, of type `http`: it is the one whose
//!   answer goes back to the provider.
//! - **Destination names** are unique within their source and across the file.
//! - **Warnings** (not errors): `provider = "none"`; no admin token of any kind; `require_https` without
//!   `trusted_proxies` (every request would get 403); `trusted_proxies` containing `/0`; a
//!   source without destinations; a lease not longer than a destination's timeout; a pool size
//!   on SQLite. (The readers add: an admin token under 16 characters, a secret with
//!   surrounding whitespace, a secret from a `:-default`; the loader: no sources at all.)

pub(crate) mod preset;

use std::ops::Range;

use ipnet::IpNet;

use super::error::{ConfigErrorKind, Finding, Spot};
use super::model::{Destination, DestinationKind, Mode, Server, Source, Storage, StoreUrl};

/// `secrets` or `public_keys` of one source as read, before the fail-closed judgement.
pub(crate) struct Material {
    /// The key was written (even if every entry was empty).
    pub(crate) present: bool,
    /// Where the key was written; the source's table when it was not.
    pub(crate) at: Spot,
    /// Non-empty entries.
    pub(crate) values: Vec<String>,
    /// Variables the entries named, for "set VAR" hints.
    pub(crate) vars: Vec<String>,
}

impl Material {
    pub(crate) fn absent() -> Self {
        Material {
            present: false,
            at: Spot::new("", None),
            values: Vec::new(),
            vars: Vec::new(),
        }
    }
}

/// What [`key_material`] judges for one source.
pub(crate) struct SourceKeys<'a> {
    pub(crate) source: &'a str,
    /// The source's table (`sources.NAME`), where a missing key is reported.
    pub(crate) table: &'a Spot,
    pub(crate) provider: &'a str,
    pub(crate) secrets: &'a Material,
    pub(crate) public_keys: &'a Material,
    /// `None` when it could not be read (its error is already reported).
    pub(crate) allow_ips: Option<&'a [IpNet]>,
    /// Where `allow_ips` was written on the source, if it was (else it came from `[defaults]`).
    pub(crate) allow_ips_at: Option<Spot>,
}

/// Fail closed (SPEC section 1): a source that verifies nothing and admits everyone is an
/// error, never a route.
pub(crate) fn key_material(keys: &SourceKeys) -> Vec<Finding> {
    let SourceKeys {
        source,
        table,
        provider,
        secrets,
        public_keys,
        allow_ips,
        ..
    } = keys;
    let mut findings = Vec::new();
    // What key material the provider takes is its description's to say (an unknown name is
    // refused elsewhere; judged here as taking secrets, so its empty list is reported too).
    let described = crate::providers::find(provider);
    let uses_secrets = described.is_none_or(|p| p.takes_secrets());
    let uses_public_keys = described.is_some_and(|p| p.takes_public_keys());

    if *provider == "none" {
        if !secrets.values.is_empty() {
            findings.push(Finding::invalid(
                &secrets.at,
                "provider = \"none\" verifies nothing, so these secrets would protect nothing; \
                 choose the provider that uses them (e.g. \"token\") or remove secrets",
            ));
        }
        let everyone = allow_ips.is_some_and(|nets| nets.iter().any(|n| n.prefix_len() == 0));
        let allow_ips_at = keys
            .allow_ips_at
            .clone()
            .unwrap_or_else(|| Spot::new(table.place.clone(), None));
        if allow_ips.is_none() {
            // Unreadable: its own error says what to fix; judging it here would only repeat it.
        } else if allow_ips.is_some_and(<[IpNet]>::is_empty) {
            findings.push(Finding::invalid(
                table,
                format!(
                    "provider = \"none\" verifies nothing, so source `{source}` needs allow_ips \
                     (the sender's CIDRs); without it the route would be open to anyone"
                ),
            ));
        } else if everyone {
            findings.push(Finding::invalid(
                &allow_ips_at,
                format!(
                    "contains a /0 network, which admits everyone; with provider = \"none\" source \
                     `{source}` would be open: list the sender's CIDRs"
                ),
            ));
        } else {
            findings.push(Finding::Warning(format!(
                "UNVERIFIED SOURCE: sources.{source} has provider = \"none\": requests are \
                 checked only against allow_ips, anyone inside those networks can post events"
            )));
        }
    }

    if !public_keys.values.is_empty() && !uses_public_keys {
        findings.push(Finding::invalid(
            &public_keys.at,
            format!("provider `{provider}` does not verify with public keys; remove public_keys"),
        ));
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
        return findings;
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
        findings.push(Finding::invalid(
            &material.at,
            format!(
                "every entry is empty (after ${{VAR}} substitution) and provider `{provider}` \
                 needs {wanted}: {set}write the {key}; a source is never left unverified"
            ),
        ));
    } else {
        findings.push(Finding::Error {
            at: (*table).clone(),
            kind: ConfigErrorKind::Missing {
                key,
                fix: format!(
                    "provider `{provider}` needs {wanted} for source `{source}`: add e.g. \
                     {key} = [\"${{{}_WEBHOOK_SECRET}}\"] (or provider = \"none\" with allow_ips \
                     for a sender that cannot sign)",
                    source.to_ascii_uppercase().replace('-', "_")
                ),
            },
        });
    }
    findings
}

/// Proxy mode needs exactly one HTTP destination; names are unique within a source. `table` is
/// the source's table.
pub(crate) fn destinations(table: &Spot, mode: Mode, destinations: &[Destination]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for d in destinations {
        if seen.contains(&d.name()) {
            findings.push(Finding::invalid(
                table,
                format!(
                    "two destinations are named `{}`; give each its own name",
                    d.name()
                ),
            ));
        }
        seen.push(d.name());
    }
    if mode == Mode::Proxy {
        match destinations {
            [only] if matches!(only.kind, DestinationKind::Http(_)) => {
                if only.filter.is_some() {
                    findings.push(Finding::invalid(
                        table,
                        "mode = \"proxy\" forwards every event and returns the answer, so its \
                         destination takes no filter; remove it (or use mode = \"queue\")",
                    ));
                }
            }
            _ => findings.push(Finding::invalid(
                table,
                "mode = \"proxy\" returns the destination's answer to the provider, so it needs \
                 exactly one destination, of type \"http\"",
            )),
        }
    }
    if destinations.is_empty() && mode == Mode::Queue {
        findings.push(Finding::Warning(format!(
            "{} has no destinations: its events are stored but never delivered",
            table.place
        )));
    }
    findings
}

/// Destination names are unique across the file (SPEC section 10): claims, metrics and the
/// admin API name a destination by its name alone, so two of one name would share a pace.
/// Each source comes with the span of its key.
pub(crate) fn unique_destination_names(sources: &[(Source, Range<usize>)]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (source, span) in sources {
        for destination in &source.destinations {
            let name = destination.name();
            match seen.iter().find(|(seen_name, _)| *seen_name == name) {
                // Within one source, `destinations` has said it already.
                Some((_, owner)) if *owner != source.name => findings.push(Finding::invalid(
                    &Spot::new(
                        format!("sources.{}.destinations", source.name),
                        Some(span.clone()),
                    ),
                    format!(
                        "a destination of source `{owner}` is already named `{name}`; destination names are unique across the file"
                    ),
                )),
                Some(_) => {}
                None => seen.push((name, &source.name)),
            }
        }
    }
    findings
}

/// Two sources may not share a route. Each source comes with the span of its key.
pub(crate) fn unique_paths(sources: &[(Source, Range<usize>)]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (i, (source, span)) in sources.iter().enumerate() {
        if let Some((first, _)) = sources[..i].iter().find(|(s, _)| s.path == source.path) {
            findings.push(Finding::invalid(
                &Spot::new(format!("sources.{}.path", source.name), Some(span.clone())),
                format!(
                    "`{}` is already the path of source `{}`; two sources may not share a route",
                    source.path, first.name
                ),
            ));
        }
    }
    findings
}

/// Settings of `[server]` that load but are probably not what the operator meant.
pub(crate) fn server_warnings(server: &Server) -> Vec<Finding> {
    let mut warnings = Vec::new();
    if server.admin_tokens.is_empty() {
        warnings.push(
            "no admin token is configured (neither server.admin_token nor \
             [[server.admin_tokens]]), so the admin API is closed: every /admin/* request is \
             answered 401 (and the CLI's events/dlq commands cannot work); set admin_token = \
             \"${HOOKWALL_ADMIN_TOKEN}\" to open it to holders of the token",
        );
    }
    if server.require_https && server.trusted_proxies.is_empty() {
        warnings.push(
            "server.require_https = true but server.trusted_proxies is empty: X-Forwarded-Proto \
             is believed only from a trusted proxy, so every webhook will be refused with 403",
        );
    }
    if server.trusted_proxies.iter().any(|n| n.prefix_len() == 0) {
        warnings.push(
            "server.trusted_proxies contains a /0 network: any client can forge \
             X-Forwarded-For and X-Forwarded-Proto, which defeats allow_ips and require_https",
        );
    }
    warnings
        .into_iter()
        .map(|text| Finding::Warning(text.to_owned()))
        .collect()
}

/// `[storage]` values that load but will not do what the operator expects.
pub(crate) fn storage_warnings<'s>(
    storage: &Storage,
    sources: impl Iterator<Item = &'s Source>,
) -> Vec<Finding> {
    let mut warnings = Vec::new();
    if matches!(storage.url, StoreUrl::Sqlite(_))
        && storage.max_connections != Storage::default().max_connections
    {
        warnings.push(Finding::Warning(
            "storage.max_connections sizes the PostgreSQL pool; the SQLite store ignores it"
                .to_owned(),
        ));
    }
    // A claim that lapses while its attempt still runs lets a second worker deliver the same
    // event at the same time: at-least-once still holds, but every slow attempt doubles.
    for source in sources {
        for (i, destination) in source.destinations.iter().enumerate() {
            if destination.timeout() >= storage.lease {
                warnings.push(Finding::Warning(format!(
                    "sources.{}.destinations[{i}].timeout ({:?}) is not shorter than \
                     storage.lease ({:?}): an attempt still running when its lease lapses is \
                     started again by another worker; keep storage.lease well above every timeout",
                    source.name,
                    destination.timeout(),
                    storage.lease
                )));
            }
        }
    }
    warnings
}
