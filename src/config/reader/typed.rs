//! The typed value readers: one value of the file, read as a string (interpolated), a boolean,
//! a whole number in a range, a duration, a size, one of a few words, a list of strings or of
//! networks. Each reports what is wrong at the value's place and returns `None`, so a section
//! reader can go on and find the file's other errors.
//!
//! Numbers and booleans may also be written as strings (`max_in_flight = "${MAX:-4096}"`).

use std::ops::RangeInclusive;
use std::time::Duration;

use ipnet::IpNet;
use toml::de::DeValue;

use super::super::env::{Interpolated, InterpolationError, interpolate, shown};
use super::super::error::ConfigErrorKind;
use super::super::{forms, units};
use super::{Ctx, Item, quoted};

impl Ctx<'_> {
    /// The string at `item`, interpolated. Errors for unset variables name the variable and
    /// the key.
    pub(crate) fn interpolated(&mut self, item: &Item) -> Option<Interpolated> {
        let DeValue::String(raw) = item.value.get_ref() else {
            self.wrong_type(item, "a string", "");
            return None;
        };
        match interpolate(raw, self.env) {
            Ok(done) => Some(done),
            Err(errors) => {
                for error in errors {
                    let kind = match error {
                        InterpolationError::Unset(var) => ConfigErrorKind::UnsetVariable { var },
                        InterpolationError::Syntax(message) => {
                            ConfigErrorKind::Interpolation(message)
                        }
                    };
                    self.fail(&item.place, Some(item.span()), kind);
                }
                None
            }
        }
    }

    pub(crate) fn string(&mut self, item: &Item) -> Option<String> {
        self.interpolated(item).map(|done| done.value)
    }

    /// A string that is never empty after interpolation.
    pub(crate) fn non_empty(&mut self, item: &Item) -> Option<String> {
        let value = self.string(item)?;
        if value.is_empty() {
            self.invalid(item, "must not be empty");
            return None;
        }
        Some(value)
    }

    /// Like [`Ctx::string`] for a key that carries a secret: a non-empty `:-default` standing in
    /// for the real variable is worth a loud warning (the secret is then in the file).
    pub(crate) fn secret_text(&mut self, item: &Item) -> Option<Interpolated> {
        let done = self.interpolated(item)?;
        self.warn_defaulted(&item.place, &done.defaulted);
        Some(done)
    }

    pub(crate) fn warn_defaulted(&mut self, place: &str, defaulted: &[String]) {
        for var in defaulted {
            self.warn(format!(
                "SECRET FROM DEFAULT: {place} uses the `:-default` written in the config file because \
                 ${var} is unset or empty; set {var} so the secret does not live in the file"
            ));
        }
    }

    pub(crate) fn boolean(&mut self, item: &Item) -> Option<bool> {
        match item.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            DeValue::String(_) => {
                let text = self.string(item)?;
                match text.trim() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => {
                        self.invalid(item, "expected true or false");
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(item, "true or false", "");
                None
            }
        }
    }

    /// An integer in `range`; a string holding one is accepted so `${VAR}` works.
    pub(crate) fn integer(&mut self, item: &Item, range: RangeInclusive<u64>) -> Option<u64> {
        let number: Option<i128> = match item.value.get_ref() {
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix()).ok(),
            DeValue::String(_) => {
                let text = self.string(item)?;
                match text.trim().parse::<i128>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.invalid(item, "expected a whole number");
                        return None;
                    }
                }
            }
            _ => {
                self.wrong_type(item, "an integer", "");
                return None;
            }
        };
        match number.and_then(|n| u64::try_from(n).ok()) {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                self.invalid(
                    item,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    pub(crate) fn duration(&mut self, item: &Item, zero_ok: bool) -> Option<Duration> {
        let DeValue::String(_) = item.value.get_ref() else {
            self.wrong_type(
                item,
                "a duration string",
                "; write a number and a unit, e.g. \"10s\", \"5m\", \"7d\"",
            );
            return None;
        };
        let done = self.interpolated(item)?;
        match units::parse_duration(&done.value) {
            Ok(d) if d.is_zero() && !zero_ok => {
                self.invalid(item, "must be longer than zero");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                let e = if done.used.is_empty() {
                    e
                } else {
                    e.describing(shown(&done))
                };
                self.fail(&item.place, Some(item.span()), e.into());
                None
            }
        }
    }

    /// A size in bytes, never zero.
    pub(crate) fn size(&mut self, item: &Item) -> Option<u64> {
        let bytes = match item.value.get_ref() {
            DeValue::Integer(i) => {
                match i128::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .and_then(|n| u64::try_from(n).ok())
                {
                    Some(n) => n,
                    None => {
                        self.invalid(item, "a size cannot be negative");
                        return None;
                    }
                }
            }
            DeValue::String(_) => {
                let done = self.interpolated(item)?;
                match units::parse_size(&done.value) {
                    Ok(n) => n,
                    Err(e) => {
                        let e = if done.used.is_empty() {
                            e
                        } else {
                            e.describing(shown(&done))
                        };
                        self.fail(&item.place, Some(item.span()), e.into());
                        return None;
                    }
                }
            }
            _ => {
                self.wrong_type(
                    item,
                    "a size",
                    "; write bytes as an integer or a string such as \"1MiB\"",
                );
                return None;
            }
        };
        if bytes == 0 {
            self.invalid(item, "must be larger than zero");
            return None;
        }
        Some(bytes)
    }

    /// One of `options` (lower-case words).
    pub(crate) fn choice(&mut self, item: &Item, options: &[&'static str]) -> Option<&'static str> {
        let done = self.interpolated(item)?;
        match options.iter().find(|o| **o == done.value) {
            Some(o) => Some(*o),
            None => {
                self.invalid(
                    item,
                    format!(
                        "{} is not accepted; use one of: {}",
                        shown(&done),
                        quoted(options)
                    ),
                );
                None
            }
        }
    }

    /// A list of strings, interpolated; the items keep their places.
    pub(crate) fn strings<'a, 'i>(
        &mut self,
        item: &Item<'a, 'i>,
        hint: &str,
    ) -> Option<Vec<(Item<'a, 'i>, Interpolated)>> {
        let items = self.array(item, hint)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for entry in items {
            match self.interpolated(&entry) {
                Some(done) => out.push((entry, done)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or bare addresses (`/32`, `/128`).
    pub(crate) fn nets(&mut self, item: &Item) -> Option<Vec<IpNet>> {
        let entries = self.strings(
            item,
            "; write a list such as [\"10.0.0.0/8\", \"2001:db8::1\"]",
        )?;
        let mut nets = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (entry, done) in entries {
            match forms::parse_net(done.value.trim()) {
                Some(net) => nets.push(net),
                None => {
                    ok = false;
                    self.invalid(
                        &entry,
                        format!(
                            "{} is not a CIDR or IP address; write e.g. \"192.30.252.0/22\", \"2606:50c0::/32\" or \"203.0.113.7\"",
                            shown(&done)
                        ),
                    );
                }
            }
        }
        ok.then_some(nets)
    }

    /// The interpolated string at `item` read by `form`, a check of its form (given how a
    /// message may show the value); its message, if any, becomes the item's error.
    pub(crate) fn checked<T>(
        &mut self,
        item: &Item,
        form: fn(&str, &str) -> Result<T, String>,
    ) -> Option<T> {
        let done = self.interpolated(item)?;
        match form(&done.value, &shown(&done)) {
            Ok(value) => Some(value),
            Err(message) => {
                self.invalid(item, message);
                None
            }
        }
    }
}
