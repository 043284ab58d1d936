//! The config part of the `config` fuzz target: the fuzzer's bytes as a config file (TOML,
//! `${VAR}` interpolation, validation) and each line as a duration and a size. Compiled only
//! for the fuzz targets and the tests (`feature = "fuzzing"`); building every source's preset,
//! as `hookwall check` then does, is `pipeline::fuzz::config`.

use std::path::Path;

use super::Config;
use super::units::{MAX_DURATION, parse_duration, parse_size};

/// More lines than this are not worth reading as durations and sizes.
const MAX_LINES: usize = 128;

/// Reads `data` as a config file; the config when it is valid, with its schema paths dropped
/// (schema files are read from disk, not part of the config text). Asserts that no line parses
/// as a duration over 100 years.
///
/// `${VAR}`: names starting with `UNSET` are unset, `EMPTY…` are empty, names containing `SECRET`
/// hold a Standard Webhooks secret, every other name holds `value`.
pub fn read(data: &[u8]) -> Option<Config> {
    let text = std::str::from_utf8(data).ok()?;
    for line in text.lines().take(MAX_LINES) {
        if let Ok(duration) = parse_duration(line) {
            assert!(duration <= MAX_DURATION, "{duration:?} is over 100 years");
        }
        let _ = parse_size(line);
    }
    let env = |name: &str| {
        if name.starts_with("UNSET") {
            None
        } else if name.starts_with("EMPTY") {
            Some(String::new())
        } else if name.contains("SECRET") {
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned())
        } else {
            Some("value".to_owned())
        }
    };
    match Config::from_str_with_env(text, Path::new("/nonexistent/hookwall.toml"), &env) {
        Ok(mut config) => {
            for source in &mut config.sources {
                source.schema = None;
            }
            Some(config)
        }
        Err(errors) => {
            let _ = errors.to_string();
            None
        }
    }
}
