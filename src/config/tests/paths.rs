//! Paths: schema files and store URLs relative to the config file, source names, route paths.

use super::*;

#[test]
fn a_relative_schema_path_is_resolved_against_the_config_file_directory() {
    let text = r#"
[sources.rel]
provider = "github"
secrets = ["s"]
schema = "schemas/rel.json"
[sources.abs]
provider = "github"
secrets = ["s"]
schema = "/opt/schemas/abs.json"
"#;
    let config = loads(text, &[]);
    assert_eq!(
        config.source("rel").and_then(|s| s.schema.clone()),
        Some(PathBuf::from("/etc/hookwall/schemas/rel.json"))
    );
    assert_eq!(
        config.source("abs").and_then(|s| s.schema.clone()),
        Some(PathBuf::from("/opt/schemas/abs.json"))
    );

    let bare =
        Config::from_str_with_env(text, Path::new("hookwall.toml"), &|_| None).expect("loads");
    assert_eq!(
        bare.source("rel").and_then(|s| s.schema.clone()),
        Some(PathBuf::from("schemas/rel.json")),
        "a config in the working directory keeps the schema path relative to it"
    );
}

#[test]
fn store_urls_are_sqlite_paths_or_postgres_urls() {
    let with = |url: &str| format!("[storage]\nurl = \"{url}\"\n{ONE_SOURCE}");
    assert_eq!(
        loads(&with("sqlite:///var/lib/hookwall/events.db"), &[])
            .storage
            .url,
        StoreUrl::Sqlite(PathBuf::from("/var/lib/hookwall/events.db"))
    );
    assert_eq!(
        loads(&with("postgres://hookwall@db/hookwall"), &[])
            .storage
            .url,
        StoreUrl::Postgres("postgres://hookwall@db/hookwall".to_owned())
    );
    let line = error_with(&with("mysql://root:hunter2@db/x"), &[], &["storage.url"]);
    assert!(
        line.contains("sqlite://") && line.contains("postgres://"),
        "{line}"
    );
    assert!(!line.contains("hunter2"), "{line}");
    error_with(
        &with("sqlite://"),
        &[],
        &["storage.url", "no database file"],
    );
}

#[test]
fn source_names_must_be_lower_case_words() {
    let text = r#"
[sources.GitHub]
provider = "github"
secrets = ["s"]
[sources."my source"]
provider = "github"
secrets = ["s"]
[sources.-dash]
provider = "github"
secrets = ["s"]
"#;
    let all = errors(text, &[]);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(all[0].starts_with("sources.GitHub (line 2)"), "{all:#?}");
    assert!(
        all[1].starts_with("sources.\"my source\" (line 5)"),
        "{all:#?}"
    );
    assert!(all.iter().all(|e| e.contains("lower-case letters")));
}

#[test]
fn a_path_override_must_start_with_a_slash_and_be_unique() {
    let text = r#"
[sources.a]
provider = "github"
secrets = ["s"]
path = "/hooks/shared"
[sources.b]
provider = "github"
secrets = ["s"]
path = "/hooks/shared"
[sources.c]
provider = "github"
secrets = ["s"]
path = "hooks/c"
[sources.d]
provider = "github"
secrets = ["s"]
path = "/hooks/{id}"
[sources.e]
provider = "github"
secrets = ["s"]
path = "/healthz"
[sources.f]
provider = "github"
secrets = ["s"]
path = "/hooks/a"
"#;
    let all = errors(text, &[]);
    let duplicate = error_with(text, &[], &["sources.b.path"]);
    assert!(duplicate.contains("source `a`"), "{duplicate}");
    error_with(text, &[], &["sources.c.path", "start with `/`"]);
    error_with(text, &[], &["sources.d.path", "`{`"]);
    error_with(text, &[], &["sources.e.path", "served by hookwall"]);
    assert!(
        all.iter().all(|e| !e.starts_with("sources.f")),
        "a path override may take another source's default path only if that source moved: {all:#?}"
    );
    assert_eq!(all.len(), 4, "{all:#?}");
}

#[test]
fn a_path_override_colliding_with_a_default_path_is_refused() {
    let text = r#"
[sources.a]
provider = "github"
secrets = ["s"]
[sources.b]
provider = "github"
secrets = ["s"]
path = "/hooks/a"
"#;
    error_with(text, &[], &["sources.b.path", "source `a`"]);
}
