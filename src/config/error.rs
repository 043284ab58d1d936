//! What a load reports: [`ConfigErrors`] (every problem of one pass, each at its key's place
//! and line) and the [`Finding`]s the rules return before the reader turns them into errors.
//!
//! A finding carries a byte span, not a line: rules never see the file's text, only the typed
//! values and the [`Spot`]s the reader gave them. Nothing here may hold a secret value.

use std::fmt;
use std::ops::Range;

use super::units;

/// Every problem found in one pass over the file. `Display` prints one per line.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.first().map(|e| e as _)
    }
}

/// One problem, with the place it was found. Never holds a secret value.
#[derive(Debug)]
pub struct ConfigError {
    /// Dotted key path (`sources.github.destinations[0].url`); empty for the file as a whole.
    pub place: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    pub kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.place.is_empty(), self.line) {
            (true, Some(line)) => write!(f, "line {line}: {}", self.kind),
            (true, None) => write!(f, "{}", self.kind),
            (false, Some(line)) => write!(f, "{} (line {line}): {}", self.place, self.kind),
            (false, None) => write!(f, "{}: {}", self.place, self.kind),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// What is wrong. Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    #[error("cannot read the config file: {0}")]
    Read(#[source] std::io::Error),
    #[error("TOML syntax error at column {column}: {message}")]
    Syntax { column: usize, message: String },
    #[error("unknown key{hint}")]
    UnknownKey { hint: String },
    #[error("expected {expected}, found {found}{hint}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
        hint: String,
    },
    #[error(
        "environment variable `{var}` is not set; set it, or write `${{{var}:-default}}` to give a fallback"
    )]
    UnsetVariable { var: String },
    #[error("{0}")]
    Interpolation(String),
    #[error("missing required key `{key}`; {fix}")]
    Missing { key: &'static str, fix: String },
    #[error("{0}")]
    Unit(#[from] units::UnitError),
    #[error("{0}")]
    Invalid(String),
}

/// Where a finding points: the dotted place of a key or table (`sources.github.secrets`) and
/// its byte span in the file, which the reader turns into a line. `span` is `None` for a place
/// that has no spot in the file (the root, a table the file never wrote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spot {
    pub(crate) place: String,
    pub(crate) span: Option<Range<usize>>,
}

impl Spot {
    pub(crate) fn new(place: impl Into<String>, span: Option<Range<usize>>) -> Self {
        Spot {
            place: place.into(),
            span,
        }
    }
}

/// What a rule found: an error to fix at a spot, or a warning worth an operator's attention.
#[derive(Debug)]
pub(crate) enum Finding {
    Error { at: Spot, kind: ConfigErrorKind },
    Warning(String),
}

impl Finding {
    /// An [`ConfigErrorKind::Invalid`] error at `at`.
    pub(crate) fn invalid(at: &Spot, message: impl Into<String>) -> Self {
        Finding::Error {
            at: at.clone(),
            kind: ConfigErrorKind::Invalid(message.into()),
        }
    }

    /// The message of an error (with its place), or the warning's text.
    #[cfg(test)]
    pub(crate) fn message(&self) -> String {
        match self {
            Finding::Error { at, kind } if at.place.is_empty() => kind.to_string(),
            Finding::Error { at, kind } => format!("{}: {kind}", at.place),
            Finding::Warning(text) => text.clone(),
        }
    }
}
