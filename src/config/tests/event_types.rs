//! `event_type_header` and `event_type_pointer`: where a source's events take their type, and
//! how `hookwall check` refuses a value that could never name one.

use http::HeaderName;

use super::*;

/// The one source `gh` of `text` (see [`gh_secrets`]).
fn event_type_of(extra: &str) -> EventTypeFrom {
    let config = loads(&format!("{}{extra}", gh_secrets("\"s\"")), &[]);
    config.source("gh").expect("gh").event_type.clone()
}

#[test]
fn a_source_without_either_key_takes_its_providers_rule() {
    assert_eq!(
        event_type_of(""),
        EventTypeFrom::Header(HeaderName::from_static("x-github-event"))
    );
    let text = "[sources.pay]\nprovider = \"stripe\"\nsecrets = [\"whsec_x\"]\n\
                [sources.sms]\nprovider = \"twilio\"\nsecrets = [\"t\"]\n\
                public_url = \"https://hooks.example.com/hooks/sms\"\n\
                [sources.chat]\nprovider = \"slack\"\nsecrets = [\"s\"]\n";
    let config = loads(text, &[]);
    let of = |name: &str| config.source(name).expect("source").event_type.clone();
    assert_eq!(of("pay"), EventTypeFrom::Pointers(vec!["/type".into()]));
    assert_eq!(of("sms"), EventTypeFrom::Nothing);
    assert_eq!(
        of("chat"),
        EventTypeFrom::Pointers(vec!["/event/type".into(), "/type".into()])
    );
}

#[test]
fn event_type_header_replaces_the_providers_rule_and_is_matched_in_any_case() {
    assert_eq!(
        event_type_of("event_type_header = \"X-Event-Type\"\n"),
        EventTypeFrom::Header(HeaderName::from_static("x-event-type"))
    );
}

#[test]
fn every_rfc_9110_token_is_an_event_type_header() {
    assert_eq!(
        event_type_of("event_type_header = \"X-A!#$%&'*+.^_`|~1\"\n"),
        EventTypeFrom::Header(HeaderName::from_static("x-a!#$%&'*+.^_`|~1"))
    );
}

#[test]
fn event_type_pointer_replaces_the_providers_rule() {
    assert_eq!(
        event_type_of("event_type_pointer = \"/repository/a~1b~0c\"\n"),
        EventTypeFrom::Pointers(vec!["/repository/a~1b~0c".into()])
    );
    // RFC 6901's empty pointer is the whole document (a body that is one JSON string).
    assert_eq!(
        event_type_of("event_type_pointer = \"\"\n"),
        EventTypeFrom::Pointers(vec![String::new()])
    );
}

#[test]
fn both_keys_on_one_source_are_refused_at_the_pointer_with_the_fix() {
    let text = format!(
        "{}event_type_header = \"X-Type\"\nevent_type_pointer = \"/type\"\n",
        gh_secrets("\"s\"")
    );
    let line = error_with(&text, &[], &["sources.gh.event_type_pointer (line 6)"]);
    assert!(line.contains("event_type_header"), "{line}");
    assert!(line.contains("not both"), "{line}");
}

#[test]
fn a_header_name_that_is_not_a_token_is_refused_at_its_key() {
    let text = format!("{}event_type_header = \"X Type\"\n", gh_secrets("\"s\""));
    let line = error_with(&text, &[], &["sources.gh.event_type_header (line 5)"]);
    assert!(line.contains("not an HTTP header name"), "{line}");
}

#[test]
fn a_pointer_that_is_not_rfc_6901_is_refused_at_its_key_with_the_fix() {
    for (pointer, needle) in [
        ("type", "must start with `/`"),
        ("data.type", "must start with `/`"),
        ("/a~2b", "`~` must be followed by 0 or 1"),
        ("/trailing~", "`~` must be followed by 0 or 1"),
    ] {
        let text = format!(
            "{}event_type_pointer = \"{pointer}\"\n",
            gh_secrets("\"s\"")
        );
        let line = error_with(&text, &[], &["sources.gh.event_type_pointer (line 5)"]);
        assert!(
            line.contains("JSON Pointer (RFC 6901)"),
            "{pointer}: {line}"
        );
        assert!(line.contains(needle), "{pointer}: {line}");
    }
}

#[test]
fn the_keys_belong_to_a_source_not_to_the_defaults() {
    let text = format!(
        "[defaults]\nevent_type_pointer = \"/type\"\n{}",
        gh_secrets("\"s\"")
    );
    let line = error_with(&text, &[], &["defaults.event_type_pointer"]);
    assert!(line.contains("set on each [sources.NAME]"), "{line}");
}
