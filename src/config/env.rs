//! `${VAR}` interpolation inside string values, and how a message may show such a value.
//!
//! Interpolation runs on string *values* after TOML parsing, so an environment value can never
//! change the structure of the file, and a value containing `"` or a newline stays one value.
//! `${VAR}` fails when `VAR` is unset (an empty `VAR` gives an empty string); `${VAR:-default}`
//! uses the default when `VAR` is unset *or empty* (as POSIX shells do). `$${` writes a literal
//! `${`; any other `$` is literal, so a password such as `pa$$word` written in the file stays as
//! it is. A substituted value is never scanned again.
//!
//! Pure: the environment is a function passed in. This file knows nothing of TOML or places;
//! the reader attaches those to its errors.

/// A string after `${VAR}` substitution.
pub(crate) struct Interpolated {
    pub(crate) value: String,
    /// Variables named in the string (for messages like "set GITHUB_WEBHOOK_SECRET").
    pub(crate) used: Vec<String>,
    /// Variables that were unset or empty and replaced by a non-empty `:-default`.
    pub(crate) defaulted: Vec<String>,
}

pub(crate) enum InterpolationError {
    Unset(String),
    Syntax(String),
}

/// Replaces `${VAR}` and `${VAR:-default}` in `raw`; `$${` is a literal `${`.
pub(crate) fn interpolate(
    raw: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, Vec<InterpolationError>> {
    let mut value = String::with_capacity(raw.len());
    let mut used = Vec::new();
    let mut defaulted = Vec::new();
    let mut errors = Vec::new();
    let mut rest = raw;
    while let Some(dollar) = rest.find('$') {
        value.push_str(&rest[..dollar]);
        let at = &rest[dollar..];
        if let Some(tail) = at.strip_prefix("$${") {
            value.push_str("${");
            rest = tail;
            continue;
        }
        let Some(tail) = at.strip_prefix("${") else {
            value.push('$');
            rest = &at[1..];
            continue;
        };
        let Some(close) = tail.find('}') else {
            errors.push(InterpolationError::Syntax(
                "`${` has no closing `}`; write ${VAR} or ${VAR:-default}, or $${ for a literal ${"
                    .to_owned(),
            ));
            rest = "";
            break;
        };
        let inner = &tail[..close];
        rest = &tail[close + 1..];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if !valid_var_name(name) {
            errors.push(InterpolationError::Syntax(format!(
                "`${{{}}}` is not a variable reference; the forms are ${{VAR}} and ${{VAR:-default}} with VAR made of letters, digits and `_`",
                cut(name)
            )));
            continue;
        }
        used.push(name.to_owned());
        let set = env(name);
        match (set, default) {
            (Some(v), Some(default)) if v.is_empty() => {
                if !default.is_empty() {
                    defaulted.push(name.to_owned());
                }
                value.push_str(default);
            }
            (Some(v), _) => value.push_str(&v),
            (None, Some(default)) => {
                if !default.is_empty() {
                    defaulted.push(name.to_owned());
                }
                value.push_str(default);
            }
            (None, None) => errors.push(InterpolationError::Unset(name.to_owned())),
        }
    }
    value.push_str(rest);
    if errors.is_empty() {
        Ok(Interpolated {
            value,
            used,
            defaulted,
        })
    } else {
        Err(errors)
    }
}

fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How a message shows a value: quoted and cut short when it was written in the file; when any
/// part came from the environment, only the variables' names (an environment value may be a
/// secret that landed under the wrong key).
pub(crate) fn shown(done: &Interpolated) -> String {
    if done.used.is_empty() {
        format!("`{}`", cut(&done.value))
    } else {
        format!("the value from ${}", done.used.join(", $"))
    }
}

/// A value shown in a message, cut short. Only used for values that are not secrets.
pub(crate) fn cut(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(MAX).collect();
        short.push('…');
        short
    }
}
