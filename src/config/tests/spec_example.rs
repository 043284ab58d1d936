//! The SPEC example, verbatim, and the documented defaults.

use sha2::Digest;

use super::*;

#[test]
fn the_spec_example_loads_with_its_variables_set() {
    let config = loads(SPEC_EXAMPLE, SPEC_ENV);

    assert_eq!(config.path, PathBuf::from(CONFIG_PATH));
    let server = &config.server;
    assert_eq!(server.listen, "0.0.0.0:8080");
    assert_eq!(server.admin_listen, "127.0.0.1:9091");
    // `admin_token` is the token list's `admin`, kept as the SHA-256 of its text.
    assert_eq!(server.admin_tokens.len(), 1);
    assert_eq!(&*server.admin_tokens[0].name, "admin");
    assert_eq!(server.admin_tokens[0].role, Role::Admin);
    assert_eq!(
        server.admin_tokens[0].digest,
        <[u8; 32]>::from(sha2::Sha256::digest(b"admin-token-0123456789abcdef"))
    );
    assert!(!server.metrics_require_token);
    assert_eq!(
        server.trusted_proxies,
        vec![net("127.0.0.1/32"), net("172.16.0.0/12")]
    );
    assert!(!server.require_https);
    assert_eq!(server.max_body_bytes, 1 << 20);
    assert_eq!(server.request_timeout, Duration::from_secs(10));
    assert_eq!(server.max_in_flight, 4096);
    assert_eq!(server.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(
        config.storage.url,
        // Relative to the config file (CONFIG_PATH), not to the working directory.
        StoreUrl::Sqlite(PathBuf::from("/etc/hookwall/data/hookwall.db"))
    );
    assert_eq!(config.storage.retention, Duration::from_secs(7 * 86_400));
    assert_eq!(config.storage.dedup_window, Duration::from_secs(7 * 86_400));

    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["github", "particle", "brightdata"], "file order");

    let github = config.source("github").expect("github source");
    assert_eq!(github.path, "/hooks/github");
    assert_eq!(github.provider, "github");
    assert_eq!(
        secrets_of(github),
        ["gh-secret-current"],
        "empty OLD dropped"
    );
    assert_eq!(github.allow_ips.len(), 6);
    assert!(github.allow_ips.contains(&net("2606:50c0::/32")));
    assert_eq!(
        github.rate_limit,
        Some(RateLimit {
            per_second: 20,
            burst: 40
        })
    );
    assert_eq!(
        github.schema,
        Some(PathBuf::from("/etc/hookwall/schemas/github.json"))
    );
    assert_eq!(
        github.overrides.timestamp_tolerance,
        Some(Duration::from_secs(300))
    );
    assert_eq!(github.accept_status, 202);
    assert_eq!(github.max_body_bytes, 1 << 20);
    assert_eq!(github.max_json_depth, 64);
    assert_eq!(github.mode, Mode::Queue);
    assert_eq!(github.dedup, DedupMode::Provider);
    let [destination] = github.destinations.as_slice() else {
        panic!("github has one destination: {:?}", github.destinations)
    };
    let DestinationKind::Http(ci) = &destination.kind else {
        panic!("github's destination is http: {destination:?}")
    };
    assert_eq!(
        destination.name, "github-1",
        "named <source>-<n> counting from 1"
    );
    assert_eq!(ci.url.as_str(), "http://ci-bot:8000/webhooks/github");
    assert_eq!(
        ci.signing_secret.as_ref().map(|s| s.expose_secret()),
        Some("whsec_aW50ZXJuYWwtc2lnbmluZw==")
    );
    assert_eq!(destination.timeout, Duration::from_secs(10));
    assert_eq!(destination.retry, Retry::default());
    assert_eq!(destination.concurrency, 16);
    assert_eq!(destination.filter, None);
    assert_eq!(destination.rate_limit, None);
    assert_eq!(
        destination.circuit,
        Some(Circuit {
            failures: 5,
            cooldown: Duration::from_secs(30)
        }),
        "a circuit breaker by default"
    );
    assert!(!ci.retry_4xx);
    assert!(ci.forward_headers.is_empty());

    let particle = config.source("particle").expect("particle source");
    assert_eq!(secrets_of(particle), ["particle-user:particle-pass"]);
    assert_eq!(
        particle.rate_limit,
        Some(RateLimit {
            per_second: 50,
            burst: 100
        }),
        "inherited from [defaults]"
    );
    let [destination] = particle.destinations.as_slice() else {
        panic!("particle has one destination")
    };
    let DestinationKind::Email(mail) = &destination.kind else {
        panic!("particle's destination is e-mail")
    };
    assert_eq!(destination.name, "particle-1");
    assert_eq!(mail.smtp_url.as_str(), "smtp://mail:25");
    assert_eq!(mail.from, "hookwall@example.com");
    assert_eq!(mail.to, ["ops@example.com"]);
    assert_eq!(mail.subject, "Particle {{event}} from {{coreid}}");
    assert_eq!(mail.body, None);
    assert_eq!(destination.timeout, Duration::from_secs(30));
    assert_eq!(destination.concurrency, 4);

    let brightdata = config.source("brightdata").expect("brightdata source");
    assert_eq!(secrets_of(brightdata), ["Bearer bd-token-42"]);
    assert_eq!(brightdata.max_body_bytes, 64 << 20);
    assert_eq!(
        brightdata.schema,
        Some(PathBuf::from(
            "/etc/hookwall/schemas/brightdata-delivery.json"
        ))
    );

    assert!(
        config
            .warnings
            .iter()
            .all(|w| !w.contains("SECRET FROM DEFAULT") && !w.contains("UNVERIFIED")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn the_spec_example_without_its_variables_names_each_one_and_its_key() {
    let all = errors(SPEC_EXAMPLE, &[]);
    for (var, place) in [
        ("HOOKWALL_ADMIN_TOKEN", "server.admin_token"),
        ("GITHUB_WEBHOOK_SECRET", "sources.github.secrets[0]"),
        (
            "INTERNAL_SIGNING_SECRET",
            "sources.github.destinations[0].signing_secret",
        ),
        ("PARTICLE_WEBHOOK_TOKEN", "sources.particle.secrets[0]"),
        ("BRIGHTDATA_WEBHOOK_TOKEN", "sources.brightdata.secrets[0]"),
    ] {
        assert!(
            all.iter()
                .any(|e| e.contains(var) && e.starts_with(place) && e.contains("not set")),
            "{var} at {place} in {all:#?}"
        );
    }
    assert_eq!(all.len(), 5, "only the unset variables: {all:#?}");
}

#[test]
fn every_server_and_storage_key_has_the_documented_default() {
    let config = loads(ONE_SOURCE, &[]);
    assert_eq!(config.server.listen, "0.0.0.0:8080");
    assert_eq!(config.server.admin_listen, "127.0.0.1:9091");
    assert!(config.server.admin_tokens.is_empty());
    assert!(!config.server.metrics_require_token);
    assert!(config.server.trusted_proxies.is_empty());
    assert!(!config.server.require_https);
    assert_eq!(config.server.max_body_bytes, 1 << 20);
    assert_eq!(config.server.request_timeout, Duration::from_secs(10));
    assert_eq!(config.server.max_in_flight, 4096);
    assert_eq!(config.server.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(
        config.storage.url,
        // Relative to the config file (CONFIG_PATH), not to the working directory.
        StoreUrl::Sqlite(PathBuf::from("/etc/hookwall/data/hookwall.db"))
    );
    assert_eq!(config.storage.retention, Duration::from_secs(7 * 86_400));
    assert_eq!(config.storage.dedup_window, Duration::from_secs(7 * 86_400));
    assert_eq!(config.storage.lease, Duration::from_secs(300));
    assert_eq!(config.storage.max_connections, 10);
    let ok = &config.sources[0];
    assert_eq!(ok.rate_limit, None);
    assert_eq!(ok.overrides.timestamp_tolerance, None);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("no admin token is configured")),
        "missing admin token is pointed out"
    );
}
