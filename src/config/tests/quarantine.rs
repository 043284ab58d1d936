//! `[quarantine]`: defaults, sizes and durations, and errors that name the key.

use std::time::Duration;

use super::*;

#[test]
fn without_a_quarantine_table_the_documented_defaults_apply() {
    let config = loads(ONE_SOURCE, &[]);
    assert!(config.quarantine.enabled);
    assert_eq!(config.quarantine.sample_bytes, 4096);
    assert_eq!(config.quarantine.max_per_source, 1000);
    assert_eq!(config.quarantine.retention, Duration::from_secs(72 * 3600));
}

#[test]
fn every_quarantine_key_is_read_in_its_own_form() {
    let text = format!(
        "[quarantine]\nenabled = false\nsample_bytes = \"16KiB\"\nmax_per_source = 100\nretention = \"24h\"\n{ONE_SOURCE}"
    );
    let config = loads(&text, &[]);
    assert!(!config.quarantine.enabled);
    assert_eq!(config.quarantine.sample_bytes, 16 * 1024);
    assert_eq!(config.quarantine.max_per_source, 100);
    assert_eq!(config.quarantine.retention, Duration::from_secs(24 * 3600));
}

#[test]
fn a_zero_max_per_source_is_refused_naming_the_key() {
    let text = format!("[quarantine]\nmax_per_source = 0\n{ONE_SOURCE}");
    error_with(&text, &[], &["quarantine.max_per_source", "from 1"]);
}

#[test]
fn a_sample_larger_than_a_mebibyte_is_refused_naming_the_key() {
    let text = format!("[quarantine]\nsample_bytes = \"2MiB\"\n{ONE_SOURCE}");
    error_with(&text, &[], &["quarantine.sample_bytes", "at most"]);
}

#[test]
fn a_retention_that_is_not_a_duration_is_refused_naming_the_key() {
    let text = format!("[quarantine]\nretention = \"soon\"\n{ONE_SOURCE}");
    error_with(&text, &[], &["quarantine.retention"]);
    let unknown = format!("[quarantine]\nkeep = true\n{ONE_SOURCE}");
    error_with(&unknown, &[], &["quarantine.keep"]);
}
