//! The fuzz entry points' own tests: every provider vector, written as a seed, reaches past the
//! signature check, and each finding of a fuzz run stays a regression test.

use super::*;
use crate::providers::fuzz::FAMILIES;
use crate::providers::vectors::load;

/// A provider vector in the signature targets' text format, as `fuzz/seeds.py` writes it.
fn seed(provider: &str, v: &crate::providers::vectors::Vector) -> Vec<u8> {
    let mut text = format!("{provider}\n@now: {}\n", v.verify_at);
    if !v.secret.is_empty() {
        text.push_str(&format!("@secret: {}\n", v.secret));
    }
    if let Some(key) = &v.public_key {
        text.push_str(&format!("@key: {key}\n"));
    }
    if let Some(url) = &v.url {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        text.push_str(&format!("@url: {base}\n"));
        if !query.is_empty() {
            text.push_str(&format!("@query: {query}\n"));
        }
    }
    let mut bytes = text.into_bytes();
    for (name, value) in &v.headers {
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(b'\n');
    }
    bytes.push(b'\n');
    bytes.extend_from_slice(&v.body);
    bytes
}

#[test]
fn every_valid_provider_vector_written_as_a_seed_passes_the_signature_check() {
    let mut checked = 0;
    for family in FAMILIES {
        // The generic presets and Zoom have no SDK-made vectors.
        let with_vectors = family
            .iter()
            .filter(|p| !matches!(**p, "hmac" | "token" | "none" | "zoom"));
        for provider in with_vectors {
            for v in load(provider).into_iter().filter(|v| v.valid) {
                let verdict = check_request(family, &seed(provider, &v));
                assert!(
                    matches!(verdict, Some(Ok(()))),
                    "{provider} {}: {verdict:?}",
                    v.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 25, "only {checked} vectors checked");
}

#[test]
fn a_mutated_preset_name_still_reaches_a_preset_of_the_family() {
    for name in ["strIpe", "", "\u{0}", "zzzzzzzzzzzz"] {
        let case = format!("{name}\n@secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n\n{{}}");
        assert!(
            check_request(SIGNATURE_LISTS, case.as_bytes()).is_some(),
            "{name:?}"
        );
    }
}

#[test]
fn a_linear_source_with_an_added_timestamp_header_verifies_what_it_signs() {
    // Found by the hmac_headers target in CI: the oracle signed at `@now` but checked at
    // the body's time, and the added header's tolerance was the preset's unused zero.
    let case =
        include_bytes!("../../../fuzz/seeds/hmac_headers/regression-linear-timestamp-header");
    assert!(check_request(HMAC_HEADERS, case).is_some());
}

#[test]
fn a_twilio_public_url_ending_in_a_question_mark_verifies_what_it_signs() {
    // Found by the urls_and_bodies target in an independent run (shared/findings): Twilio
    // joins `bodySHA256` to a URL that has a `?` with `&`, so the request it sends to
    // `…/mt: 1234?` carries the query `&bodySHA256=…`; the oracle had dropped the empty
    // query and sent `bodySHA256=…`, which is not what was signed. A harness error: the
    // gateway verifies the request Twilio sends.
    let case = include_bytes!(
        "../../../fuzz/seeds/urls_and_bodies/regression-twilio-url-ending-in-question-mark"
    );
    assert!(check_request(URLS_AND_BODIES, case).is_some());
    let url = "https://example.com/hook?".to_owned();
    let secrets = [SecretString::from("secret".to_owned())];
    let overrides = Overrides {
        public_url: Some(url.clone()),
        ..Overrides::default()
    };
    let preset = Preset::build("twilio", &secrets, &[], &overrides).expect("builds");
    signed_request_verifies(&source(preset, Some(url)), &secrets, b"{}", 0, "evt");
}

#[test]
fn every_framing_seed_is_judged_alike_whatever_the_reads() {
    for name in [
        "two-pipelined-with-length",
        "chunked-with-trailer-then-next",
        "length-and-chunked",
        "chunked-then-length",
        "bare-lf-head",
    ] {
        let path = format!("{}/fuzz/seeds/framing/{name}", env!("CARGO_MANIFEST_DIR"));
        let seed = std::fs::read(&path).expect("a seed");
        for cut in 0..=255u8 {
            let mut case = seed.clone();
            case[0] = cut;
            framing(&case);
        }
    }
}

#[test]
fn a_document_whose_repeated_key_hid_a_deeper_value_is_judged_by_the_pipelines_parser() {
    // Found by the body target (600 s run, 2026-12-03): serde_json keeps the last of two
    // equal keys, so its value's depth missed a deeper first value that the byte scan
    // counted. The pipeline's parser refuses a repeated key, and the oracle now uses it.
    let case = include_bytes!("../../../fuzz/seeds/body/regression-repeated-key-hides-depth");
    body(case);
}

#[test]
fn the_scan_and_the_parser_agree_on_depth() {
    depth_scan_agrees_with_the_parser(br#"{"a":[1,{"b":"[[["}],"c":{}}"#);
    depth_scan_agrees_with_the_parser(b"[[[[[[[[[[]]]]]]]]]]");
    depth_scan_agrees_with_the_parser(br#""\\\"[""#);
}
