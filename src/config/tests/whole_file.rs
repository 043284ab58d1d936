//! The file as a whole: every error in one pass, reading it from disk, the empty file, fuzzed
//! edits, the configuration reference, regressions.

use super::*;

#[test]
fn every_error_in_the_file_is_reported_in_one_pass_in_line_order() {
    let text = r#"
bogus = 1
[server]
listen = "nowhere"
request_timeout = "soon"
[storage]
url = "redis://cache"
[defaults]
rate_limit = { per_second = -1 }
[sources.a]
provider = "unknown-provider"
secrets = ["s"]
[sources.b]
provider = "github"
[sources.c]
provider = "github"
secrets = ["${MISSING_VAR}"]
[[sources.c.destinations]]
url = "ftp://x/"
retry = { initial = "1x" }
"#;
    let all = errors(text, &[]);
    let expected = [
        "bogus (line 2)",
        "server.listen (line 4)",
        "server.request_timeout (line 5)",
        "storage.url (line 7)",
        "defaults.rate_limit.per_second (line 9)",
        "sources.a.provider (line 11)",
        "sources.b (line 13)",
        "sources.c.secrets[0] (line 17)",
        "sources.c.destinations[0].url (line 19)",
        "sources.c.destinations[0].retry.initial (line 20)",
    ];
    assert_eq!(all.len(), expected.len(), "{all:#?}");
    for (line, place) in all.iter().zip(expected) {
        assert!(line.starts_with(place), "expected {place}, got {line}");
    }

    let joined = ConfigErrors(load(text, &[]).expect_err("invalid").0).to_string();
    assert_eq!(joined.lines().count(), expected.len(), "one error per line");
}

// ---- the file itself -----------------------------------------------------------------------------

#[test]
fn load_reads_the_file_and_reports_a_missing_one() {
    let dir = std::env::temp_dir().join(format!("hookwall-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("hookwall.toml");
    std::fs::write(&path, ONE_SOURCE).expect("write config");
    let config = Config::load(&path).expect("loads");
    assert_eq!(config.path, path);
    assert_eq!(config.sources[0].name, "ok");
    std::fs::remove_dir_all(&dir).expect("clean up");

    let missing = Config::load(&dir.join("absent.toml")).expect_err("no file");
    assert_eq!(missing.0.len(), 1);
    assert!(matches!(missing.0[0].kind, ConfigErrorKind::Read(_)));
    assert!(missing.to_string().contains("absent.toml"), "{missing}");
}

#[test]
fn an_empty_file_loads_with_defaults_and_warns_that_no_source_is_configured() {
    let config = loads("", &[]);
    assert!(config.sources.is_empty());
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("no [sources.NAME]"))
    );
}

#[test]
fn an_admin_token_with_a_line_break_is_refused_and_a_padded_secret_warns() {
    let text = "[server]\nadmin_token = \"${TOKEN}\"\n[sources.gh]\nprovider = \"github\"\nsecrets = [\"${GH}\"]\n";
    let line = error_with(
        text,
        &[("TOKEN", "0123456789abcdef0123\n"), ("GH", "s")],
        &["server.admin_token"],
    );
    assert!(line.contains("visible ASCII"), "{line}");

    let config = loads(
        text,
        &[("TOKEN", "0123456789abcdef0123"), ("GH", "gh-secret\n")],
    );
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("sources.gh.secrets[0]") && w.contains("whitespace")),
        "{:?}",
        config.warnings
    );
    assert_eq!(secrets_of(&config.sources[0]), ["gh-secret\n"], "verbatim");
}

#[test]
fn values_from_the_environment_are_not_echoed_but_written_ones_are() {
    let text = r#"
[sources.gh]
provider = "${PROVIDER}"
secrets = ["s"]
allow_ips = ["${IPS}", "not-a-cidr"]
"#;
    let env = [("PROVIDER", "LEAK-provider"), ("IPS", "LEAK-ips")];
    let all = errors(text, &env);
    assert!(all.iter().all(|e| !e.contains("LEAK-")), "{all:#?}");
    error_with(
        text,
        &env,
        &["sources.gh.provider", "the value from $PROVIDER"],
    );
    error_with(
        text,
        &env,
        &["sources.gh.allow_ips[0]", "the value from $IPS"],
    );
    error_with(text, &env, &["sources.gh.allow_ips[1]", "`not-a-cidr`"]);
}

#[test]
fn arbitrary_edits_of_the_spec_example_never_panic() {
    // A cheap, deterministic stand-in for the fuzz target: delete, duplicate or replace bytes.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"[]{}\"'=,.$:-_/\n #\\0123456789azAZ";
    let env = |name: &str| Some(format!("v-{name}"));
    for _ in 0..2_000 {
        let mut bytes = SPEC_EXAMPLE.as_bytes().to_vec();
        for _ in 0..1 + next() % 4 {
            let at = usize::try_from(next()).unwrap_or(0) % bytes.len();
            let pick = alphabet[usize::try_from(next()).unwrap_or(0) % alphabet.len()];
            match next() % 3 {
                0 => {
                    bytes.remove(at);
                }
                1 => bytes.insert(at, pick),
                _ => bytes[at] = pick,
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = Config::from_str_with_env(&text, Path::new(CONFIG_PATH), &env);
    }
}

#[test]
fn every_key_the_loader_accepts_is_in_the_configuration_reference() {
    use super::reader::names;
    use super::schema::{
        TOP_KEYS, admin_tokens, destinations, filter, quarantine, rate_limit, server, sources,
        storage,
    };
    // Top-level tables are documented as section headings: `[server]`, `[sources.NAME]`.
    for table in TOP_KEYS {
        assert!(
            include_str!("../../../docs/configuration.md").contains(&format!("`[{table}")),
            "table [{table}] missing from docs/configuration.md"
        );
    }
    let reference = include_str!("../../../docs/configuration.md");
    let lists = [
        names(server::KEYS),
        names(server::CLIENT_PREFIX_KEYS),
        admin_tokens::TOKEN_KEYS.to_vec(),
        names(storage::KEYS),
        names(quarantine::KEYS),
        names(sources::DEFAULTS_KEYS),
        sources::SOURCE_KEYS.to_vec(),
        rate_limit::KEYS.to_vec(),
        destinations::all_keys(),
        destinations::RETRY_KEYS.to_vec(),
        destinations::CIRCUIT_KEYS.to_vec(),
        filter::KEYS.to_vec(),
    ];
    let missing: Vec<&str> = lists
        .iter()
        .flat_map(|keys| keys.iter().copied())
        .filter(|key| !reference.contains(&format!("`{key}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/configuration.md: {missing:?}"
    );
}

/// Found by the `urls_and_bodies` fuzz target in CI: the URL parser drops trailing control
/// characters (and spaces, and newlines anywhere), so such a `public_url` was accepted, but its
/// raw text was what the signature was checked against: every Twilio request got 401.
#[test]
fn regression_public_url_with_a_trailing_newline_or_control_character_is_refused() {
    let source = |url: &str| {
        format!("[sources.sms]\nprovider = \"twilio\"\nsecrets = [\"k\"]\npublic_url = \"{url}\"\n")
    };
    for url in [
        "${TWILIO_URL}",
        "https://hooks.example.com/sms\\u0000",
        " https://hooks.example.com/sms",
        "https://hooks.example.com/s\\tms",
    ] {
        let line = error_with(
            &source(url),
            &[("TWILIO_URL", "https://hooks.example.com/sms\n")],
            &["sources.sms.public_url", "control characters"],
        );
        assert!(line.contains("remove them"), "{line}");
    }
    // The clean URL loads.
    loads(&source("https://hooks.example.com/sms"), &[]);
}
