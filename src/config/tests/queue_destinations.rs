//! Queue destinations (`nats`, `redis`, `amqp`): their keys, URLs and names.

use super::*;

/// A source `gh` whose destinations are the TOML `tables` (each starting `[[…destinations]]`).
fn gh_with(tables: &str) -> String {
    format!("\n[sources.gh]\nprovider = \"github\"\nsecrets = [\"s\"]\n{tables}")
}

#[test]
fn queue_destinations_load_with_their_keys_and_the_queue_defaults() {
    let config = loads(
        &gh_with(
            r#"[[sources.gh.destinations]]
type = "nats"
url = "nats://nats:4222"
subject = "webhooks.github"
signing_secret = "whsec_c2VjcmV0"
[[sources.gh.destinations]]
type = "redis"
url = "redis://:${REDIS_PASSWORD}@redis:6379/2"
stream = "webhooks"
maxlen = 10000
[[sources.gh.destinations]]
type = "amqp"
url = "amqp://app:${AMQP_PASSWORD}@rabbitmq:5672/%2f"
exchange = ""
routing_key = "github"
"#,
        ),
        &[("REDIS_PASSWORD", "r3dis-pw"), ("AMQP_PASSWORD", "amqp-pw")],
    );
    let destinations = &config.sources[0].destinations;
    let DestinationKind::Nats(nats) = &destinations[0].kind else {
        panic!("{:?}", destinations[0].kind)
    };
    assert_eq!(nats.subject, "webhooks.github");
    assert!(nats.signing_secret.is_some());
    let DestinationKind::Redis(redis) = &destinations[1].kind else {
        panic!("{:?}", destinations[1].kind)
    };
    assert_eq!(
        (redis.stream.as_str(), redis.maxlen),
        ("webhooks", Some(10_000))
    );
    let DestinationKind::Amqp(amqp) = &destinations[2].kind else {
        panic!("{:?}", destinations[2].kind)
    };
    assert_eq!(
        (amqp.exchange.as_str(), amqp.routing_key.as_str()),
        ("", "github")
    );
    for d in destinations {
        assert_eq!(d.timeout, std::time::Duration::from_secs(10));
        assert_eq!(d.concurrency, 16);
    }
    let shown = format!("{destinations:?}");
    assert!(
        !shown.contains("r3dis-pw") && !shown.contains("amqp-pw") && !shown.contains("c2VjcmV0"),
        "{shown}"
    );
    assert!(
        shown.contains("amqp://app:***@rabbitmq:5672/%2f"),
        "{shown}"
    );
}

#[test]
fn queue_urls_that_do_not_parse_name_the_key_and_the_fix() {
    let text = &gh_with(
        r#"[[sources.gh.destinations]]
type = "nats"
url = "nats//nats:4222"
subject = "a"
[[sources.gh.destinations]]
type = "nats"
url = "http://nats:4222"
subject = "a"
[[sources.gh.destinations]]
type = "redis"
url = "redis://redis:6379/cache"
stream = "s"
[[sources.gh.destinations]]
type = "amqp"
url = "amqp://rabbitmq:5672/"
exchange = "x"
routing_key = "k"
[[sources.gh.destinations]]
type = "amqp"
url = "amqp://rabbit mq"
exchange = "x"
routing_key = "k"
"#,
    );
    let line = error_with(
        text,
        &[],
        &["sources.gh.destinations[0].url", "is not a URL"],
    );
    assert!(line.contains("write e.g. \"nats://nats:4222\""), "{line}");
    error_with(
        text,
        &[],
        &["sources.gh.destinations[1].url", "use nats or tls"],
    );
    error_with(
        text,
        &[],
        &[
            "sources.gh.destinations[2].url",
            "database number",
            "redis://redis:6379/0",
        ],
    );
    error_with(
        text,
        &[],
        &[
            "sources.gh.destinations[3].url",
            "`/%2f` for the default vhost",
        ],
    );
    error_with(
        text,
        &[],
        &["sources.gh.destinations[4].url", "is not a URL", "amqp://"],
    );
}

#[test]
fn a_url_from_the_environment_is_judged_without_being_shown() {
    let text = &gh_with(
        r#"[[sources.gh.destinations]]
type = "redis"
url = "${REDIS_URL}"
stream = "s"
"#,
    );
    let line = error_with(
        text,
        &[("REDIS_URL", "token:s3cret-value")],
        &[
            "sources.gh.destinations[0].url",
            "the scheme of the value from $REDIS_URL",
        ],
    );
    assert!(
        !line.contains("s3cret-value") && !line.contains("`token`"),
        "{line}"
    );
}

#[test]
fn subjects_streams_exchanges_and_routing_keys_are_checked() {
    let text = &gh_with(
        r#"[[sources.gh.destinations]]
type = "nats"
url = "nats://nats"
subject = "webhooks.*"
[[sources.gh.destinations]]
type = "nats"
url = "nats://nats"
subject = "webhooks github"
[[sources.gh.destinations]]
type = "nats"
url = "nats://nats"
subject = "webhooks..github"
[[sources.gh.destinations]]
type = "redis"
url = "redis://redis"
stream = ""
maxlen = 0
[[sources.gh.destinations]]
type = "amqp"
url = "amqp://rabbitmq"
exchange = "my exchange"
routing_key = ""
"#,
    );
    error_with(
        text,
        &[],
        &["sources.gh.destinations[0].subject", "wildcard"],
    );
    error_with(
        text,
        &[],
        &["sources.gh.destinations[1].subject", "whitespace"],
    );
    error_with(
        text,
        &[],
        &["sources.gh.destinations[2].subject", "empty token"],
    );
    error_with(
        text,
        &[],
        &["sources.gh.destinations[3].stream", "is empty"],
    );
    error_with(text, &[], &["sources.gh.destinations[3].maxlen"]);
    error_with(
        text,
        &[],
        &["sources.gh.destinations[4].exchange", "exchange = \"\""],
    );
    error_with(
        text,
        &[],
        &["sources.gh.destinations[4].routing_key", "is empty"],
    );
}

#[test]
fn queue_destinations_name_the_keys_they_miss_and_refuse_another_types_keys() {
    let text = &gh_with(
        r#"[[sources.gh.destinations]]
type = "nats"
[[sources.gh.destinations]]
type = "redis"
url = "redis://redis"
[[sources.gh.destinations]]
type = "amqp"
url = "amqp://rabbitmq"
[[sources.gh.destinations]]
type = "nats"
url = "nats://nats"
subject = "a"
stream = "s"
"#,
    );
    for needles in [
        ["sources.gh.destinations[0] ", "`url`", "nats://nats:4222"],
        [
            "sources.gh.destinations[0] ",
            "`subject`",
            "webhooks.github",
        ],
        [
            "sources.gh.destinations[1] ",
            "`stream`",
            "stream = \"webhooks\"",
        ],
        [
            "sources.gh.destinations[2] ",
            "`exchange`",
            "default exchange",
        ],
        [
            "sources.gh.destinations[2] ",
            "`routing_key`",
            "routing_key =",
        ],
        [
            "sources.gh.destinations[3].stream",
            "belongs to redis destinations",
            "type = \"nats\"",
        ],
    ] {
        error_with(text, &[], &needles);
    }
}
