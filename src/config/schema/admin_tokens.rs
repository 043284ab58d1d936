//! The admin tokens of `[server]` (SPEC section 12): `admin_token`, an `admin` named `admin`,
//! and `[[server.admin_tokens]]`, each with a `name`, a `role` and either the token itself
//! (`token`, a secret like any other) or its hex SHA-256 (`token_sha256`).
//!
//! Every token lands in `Server::admin_tokens` as the SHA-256 of its text. Names are unique, and
//! so are tokens: two names sharing one token would make the audit trail's actor a guess. No
//! message quotes a token or a digest; a digest in the wrong form may be a token pasted under the
//! wrong key.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::super::forms;
use super::super::model::{AdminToken, Role, Server};
use super::super::reader::{Ctx, Item, Tbl, required};

/// The keys of one `[[server.admin_tokens]]` table.
pub(crate) const TOKEN_KEYS: &[&str] = &["name", "token", "token_sha256", "role"];

/// The role words, in order of power.
const ROLES: &[&str] = &["viewer", "operator", "admin"];

/// Under this many characters a token is worth a warning.
const SHORT_TOKEN: usize = 16;

/// `server.admin_token`: the first token of the list, an `admin` named `admin`.
pub(crate) fn read_admin_token(cx: &mut Ctx, item: &Item, server: &mut Server) {
    if let Some(digest) = read_token_text(cx, item) {
        server.admin_tokens.push(AdminToken {
            name: Arc::from("admin"),
            digest,
            role: Role::Admin,
        });
    }
}

/// `[[server.admin_tokens]]`, after `admin_token` (whose name and token they may not reuse).
pub(crate) fn read_admin_tokens(cx: &mut Ctx, item: &Item, server: &mut Server) {
    let Some(entries) = cx.array(
        item,
        "; write one [[server.admin_tokens]] table per token, with name, role and token or \
         token_sha256",
    ) else {
        return;
    };
    // Where each name and each token was first written, for the duplicate messages; entries
    // with an error elsewhere still claim theirs, so every duplicate is reported.
    let mut names: Vec<(Arc<str>, String)> = Vec::new();
    let mut digests: Vec<([u8; 32], String)> = Vec::new();
    for token in &server.admin_tokens {
        names.push((token.name.clone(), "server.admin_token".to_owned()));
        digests.push((token.digest, "server.admin_token".to_owned()));
    }
    for entry in entries {
        let Some(table) = cx.table_as(
            &entry,
            "a table",
            "; write [[server.admin_tokens]] with name, role and token or token_sha256",
        ) else {
            continue;
        };
        cx.check_keys(&table, TOKEN_KEYS, &|_| None);
        let name = required(cx, &table, "name", name_fix, read_name);
        let digest = read_digest(cx, &table);
        let role = required(cx, &table, "role", role_fix, read_role);
        let name = name.and_then(|(name, at)| {
            unique(cx, &mut names, name, &at, |place, name| {
                if place == "server.admin_token" {
                    format!(
                        "`{name}` is the name of server.admin_token; give this token another \
                         name (or remove admin_token and let this one be `admin`)"
                    )
                } else {
                    format!("`{name}` is already the name of {place}; token names must be unique")
                }
            })
        });
        let digest = digest.and_then(|(digest, at)| {
            unique(cx, &mut digests, digest, &at, |place, _| {
                format!(
                    "is the same token as {place}; give each name its own token, or the audit \
                     trail cannot tell who acted"
                )
            })
        });
        if let (Some(name), Some(digest), Some(role)) = (name, digest, role) {
            server.admin_tokens.push(AdminToken { name, digest, role });
        }
    }
}

/// `value` when no earlier entry of `seen` holds it (then it is recorded as written at `at`);
/// otherwise `message(place of the first, value)` is reported at `at` and the value dropped.
fn unique<T: PartialEq + Clone>(
    cx: &mut Ctx,
    seen: &mut Vec<(T, String)>,
    value: T,
    at: &Item,
    message: impl FnOnce(&str, &T) -> String,
) -> Option<T> {
    match seen.iter().find(|(earlier, _)| *earlier == value) {
        Some((_, place)) => {
            let text = message(place, &value);
            cx.invalid(at, text);
            None
        }
        None => {
            seen.push((value.clone(), at.place.clone()));
            Some(value)
        }
    }
}

fn name_fix() -> String {
    "name the token, e.g. name = \"oncall\" (the audit trail records it as the actor)".to_owned()
}

fn role_fix() -> String {
    format!(
        "say what the token may do: role = one of {}",
        quoted_roles()
    )
}

fn quoted_roles() -> String {
    ROLES
        .iter()
        .map(|role| format!("\"{role}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `name`, with the item it was read from (for a duplicate's message).
fn read_name<'a, 'i>(cx: &mut Ctx, item: &Item<'a, 'i>) -> Option<(Arc<str>, Item<'a, 'i>)> {
    let name = cx.checked(item, |text, shown| {
        if forms::source_name(text) {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "{shown} is not a token name: use lower-case letters, digits, `_` and `-`, \
                 starting with a letter or digit (e.g. \"oncall\")"
            ))
        }
    })?;
    Some((Arc::from(name), item.clone()))
}

fn read_role(cx: &mut Ctx, item: &Item) -> Option<Role> {
    cx.choice(item, ROLES).and_then(Role::from_name)
}

/// Exactly one of `token` and `token_sha256`, as the digest and the item it came from.
fn read_digest<'a, 'i>(cx: &mut Ctx, table: &Tbl<'a, 'i>) -> Option<([u8; 32], Item<'a, 'i>)> {
    match (table.get("token"), table.get("token_sha256")) {
        (Some(_), Some(hashed)) => {
            cx.invalid(
                &hashed,
                "is written together with `token`; keep one of them: `token` holds the token \
                 itself (as \"${VAR}\"), `token_sha256` its hex SHA-256",
            );
            None
        }
        (Some(token), None) => read_token_text(cx, &token).map(|digest| (digest, token)),
        (None, Some(hashed)) => read_sha256(cx, &hashed).map(|digest| (digest, hashed)),
        (None, None) => {
            cx.missing(
                table,
                "token",
                "write token = \"${VAR}\" (the token, from the environment) or token_sha256 = \
                 \"<64 hex digits>\" (its SHA-256, from `hookwall token hash`)"
                    .to_owned(),
            );
            None
        }
    }
}

/// A token's text (`admin_token`, `token`): one word of visible ASCII, since it is compared
/// with a header. Under [`SHORT_TOKEN`] characters it warns. Returns its SHA-256.
fn read_token_text(cx: &mut Ctx, item: &Item) -> Option<[u8; 32]> {
    let done = cx.secret_text(item)?;
    if done.value.trim().is_empty() {
        let hint = match done.used.first() {
            Some(var) => format!("; set {var}"),
            None => String::new(),
        };
        cx.invalid(
            item,
            format!("is empty (or only whitespace){hint}, or remove the key to run without it"),
        );
        None
    } else if !done.value.chars().all(|c| c.is_ascii_graphic()) {
        cx.invalid(
            item,
            "contains whitespace, a line break or non-ASCII characters; a bearer token is one \
             word of visible ASCII (a trailing newline from a secrets file is a common cause)",
        );
        None
    } else {
        if done.value.chars().count() < SHORT_TOKEN {
            cx.warn(format!(
                "{} is shorter than {SHORT_TOKEN} characters: use a long random token \
                 (e.g. `openssl rand -hex 32`)",
                item.place
            ));
        }
        Some(Sha256::digest(done.value.as_bytes()).into())
    }
}

/// `token_sha256`: 64 hexadecimal digits, either case.
fn read_sha256(cx: &mut Ctx, item: &Item) -> Option<[u8; 32]> {
    let text = cx.string(item)?;
    let mut digest = [0u8; 32];
    let is_hex = text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit());
    if is_hex && hex::decode_to_slice(&text, &mut digest).is_ok() {
        return Some(digest);
    }
    // Neither the value nor its length beyond a count: it may be the token itself.
    cx.invalid(
        item,
        format!(
            "is not a hex SHA-256: it must be 64 characters 0-9 and a-f (either case), and this \
             is {} characters{}; `printf %s \"$TOKEN\" | hookwall token hash` prints it (a token \
             itself goes in `token`)",
            text.chars().count(),
            if text.chars().all(|c| c.is_ascii_hexdigit()) {
                ""
            } else {
                " with some that are not hex digits"
            }
        ),
    );
    None
}
