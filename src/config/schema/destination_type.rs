//! What a destination type is to the reader ([`Type`]: its `type` value, its own keys, its
//! defaults, its reader), and the readers of keys several types share (`signing_secret`).
//! `super::destinations` lists the types and reads the keys every destination has; each
//! type's keys are read in its own file (HTTP and e-mail in `super::destinations`, the queues
//! in `super::queues`), which all stand on this one.

use std::time::Duration;

use secrecy::SecretString;

use super::super::model::DestinationKind;
use super::super::reader::{Ctx, Item, Tbl, field_or};

/// One destination type: its `type` value, the keys only it takes, its defaults, its reader.
pub(crate) struct Type {
    pub(crate) name: &'static str,
    pub(crate) keys: &'static [&'static str],
    pub(crate) timeout: Duration,
    pub(crate) concurrency: usize,
    pub(crate) read: fn(&mut Ctx, &Tbl) -> Option<DestinationKind>,
}

/// `signing_secret`, optional: the Standard Webhooks key HTTP and queue messages are signed with.
pub(crate) fn signing_secret(cx: &mut Ctx, table: &Tbl) -> Option<Option<SecretString>> {
    field_or(cx, table, "signing_secret", None, |cx, i| {
        read_signing_secret(cx, i).map(Some)
    })
}

fn read_signing_secret(cx: &mut Ctx, item: &Item) -> Option<SecretString> {
    let done = cx.secret_text(item)?;
    if done.value.trim().is_empty() {
        let hint = match done.used.first() {
            Some(var) => format!("set {var}, or "),
            None => String::new(),
        };
        cx.invalid(
            item,
            format!(
                "is empty (or only whitespace); {hint}remove signing_secret to send events unsigned"
            ),
        );
        return None;
    }
    Some(SecretString::from(done.value))
}
