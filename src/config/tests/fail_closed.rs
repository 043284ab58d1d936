//! Fail closed: providers, key material and `provider = "none"`; CIDRs.

use super::*;

#[test]
fn an_unknown_provider_is_refused_with_the_known_ones_listed() {
    let text = "[sources.x]\nprovider = \"githib\"\nsecrets = [\"s\"]\n";
    let line = error_with(text, &[], &["sources.x.provider (line 2)"]);
    assert!(line.contains("unknown provider `githib`"), "{line}");
    for known in crate::providers::KNOWN {
        assert!(line.contains(&format!("\"{known}\"")), "{known}: {line}");
    }
}

#[test]
fn a_source_without_a_provider_is_refused() {
    let line = error_with(
        "[sources.x]\nsecrets = [\"s\"]\n",
        &[],
        &["sources.x (line 1)"],
    );
    assert!(line.contains("missing required key `provider`"), "{line}");
}

#[test]
fn a_secrets_list_left_empty_by_unset_variables_is_refused_naming_them() {
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["${GH_NEW:-}", "${GH_OLD:-}"]
"#;
    let line = error_with(text, &[], &["sources.gh.secrets (line 4)"]);
    assert!(line.contains("every entry is empty"), "{line}");
    assert!(line.contains("GH_NEW") && line.contains("GH_OLD"), "{line}");
}

#[test]
fn an_explicitly_empty_secrets_list_is_refused() {
    error_with(
        "[sources.gh]\nprovider = \"stripe\"\nsecrets = []\n",
        &[],
        &["sources.gh.secrets", "needs at least one secret"],
    );
}

#[test]
fn a_source_with_neither_a_secret_nor_allow_ips_is_refused_with_the_fix() {
    let line = error_with(
        "[sources.gh]\nprovider = \"github\"\n",
        &[],
        &["sources.gh (line 1)"],
    );
    assert!(line.contains("missing required key `secrets`"), "{line}");
    assert!(
        line.contains("secrets = [\"${GH_WEBHOOK_SECRET}\"]"),
        "{line}"
    );
    assert!(line.contains("allow_ips"), "{line}");
}

#[test]
fn allow_ips_alone_does_not_stand_in_for_a_signing_secret() {
    let text = "[sources.gh]\nprovider = \"github\"\nallow_ips = [\"10.0.0.0/8\"]\n";
    error_with(text, &[], &["sources.gh", "missing required key `secrets`"]);
}

#[test]
fn secrets_written_as_a_string_ask_for_a_list() {
    let text = "[sources.gh]\nprovider = \"github\"\nsecrets = \"${GH}\"\n";
    let line = error_with(text, &[("GH", "s")], &["sources.gh.secrets (line 3)"]);
    assert!(line.contains("expected a list, found a string"), "{line}");
    assert!(line.contains("always a list"), "{line}");
}

#[test]
fn provider_none_requires_allow_ips_and_warns_loudly() {
    let ok = loads(
        "[sources.lan]\nprovider = \"none\"\nallow_ips = [\"10.1.2.3\", \"fd00::1\"]\n",
        &[],
    );
    assert_eq!(
        ok.sources[0].allow_ips,
        vec![net("10.1.2.3/32"), net("fd00::1/128")],
        "bare addresses are single hosts"
    );
    assert!(
        ok.warnings
            .iter()
            .any(|w| w.contains("UNVERIFIED") && w.contains("sources.lan")),
        "{:?}",
        ok.warnings
    );

    let line = error_with(
        "[sources.lan]\nprovider = \"none\"\n",
        &[],
        &["sources.lan"],
    );
    assert!(line.contains("needs allow_ips"), "{line}");
}

#[test]
fn provider_none_inherits_allow_ips_from_defaults() {
    let text = "[defaults]\nallow_ips = [\"10.0.0.0/8\"]\n[sources.lan]\nprovider = \"none\"\n";
    assert_eq!(
        loads(text, &[]).sources[0].allow_ips,
        vec![net("10.0.0.0/8")]
    );
}

#[test]
fn provider_none_with_an_allowlist_open_to_everyone_is_refused() {
    let text = "[sources.lan]\nprovider = \"none\"\nallow_ips = [\"10.0.0.0/8\", \"::/0\"]\n";
    error_with(
        text,
        &[],
        &["sources.lan.allow_ips (line 3)", "admits everyone"],
    );
}

#[test]
fn provider_none_with_secrets_is_refused_as_protecting_nothing() {
    let text =
        "[sources.lan]\nprovider = \"none\"\nsecrets = [\"s\"]\nallow_ips = [\"10.0.0.0/8\"]\n";
    error_with(text, &[], &["sources.lan.secrets", "protect nothing"]);
}

#[test]
fn standard_webhooks_may_verify_with_public_keys_alone() {
    let text = "[sources.sw]\nprovider = \"standard-webhooks\"\npublic_keys = [\"whpk_WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=\", \"${OLD_KEY:-}\"]\n";
    let config = loads(text, &[]);
    assert_eq!(
        config.sources[0].public_keys,
        ["whpk_WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY="]
    );
    assert!(config.sources[0].secrets.is_empty());
}

#[test]
fn public_keys_on_a_provider_that_does_not_use_them_are_refused() {
    let text = "[sources.gh]\nprovider = \"github\"\nsecrets = [\"s\"]\npublic_keys = [\"k\"]\n";
    error_with(
        text,
        &[],
        &["sources.gh.public_keys", "does not verify with public keys"],
    );
}

#[test]
fn cidrs_that_do_not_parse_name_their_entry() {
    let text = format!(
        "[server]\ntrusted_proxies = [\"10.0.0.0/33\", \"172.16.0.0/12\", \"proxy.local\"]\n{ONE_SOURCE}"
    );
    let all = errors(&text, &[]);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(
        all[0].starts_with("server.trusted_proxies[0] (line 2)"),
        "{all:#?}"
    );
    assert!(all[1].starts_with("server.trusted_proxies[2]"), "{all:#?}");
}

#[test]
fn cidrs_with_host_bits_are_normalised_to_their_network() {
    let text = format!("[server]\ntrusted_proxies = [\"172.17.0.1/16\"]\n{ONE_SOURCE}");
    let config = loads(&text, &[]);
    assert_eq!(config.server.trusted_proxies, vec![net("172.17.0.0/16")]);
    let inside: IpAddr = "172.17.200.3".parse().expect("test address");
    assert!(config.server.trusted_proxies[0].contains(&inside));
}
