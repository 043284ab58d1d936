//! The whole load, composed: TOML syntax, then one walk over the spanned tree in which each
//! section reads its keys into typed values (interpolating `${VAR}` per value), then the rules
//! that span the whole file; every error found on the way comes back at once, in line order.
//!
//! This is the top of the config module: it imports the reader, the schema sections and the
//! rules, and nothing imports it but `mod.rs`.

use std::path::Path;

use super::error::{ConfigError, ConfigErrorKind, ConfigErrors, Finding};
use super::model::Config;
use super::reader::{Ctx, Tbl};
use super::schema::{TOP_KEYS, quarantine, server, sources, storage};
use super::{files, rules};

impl Config {
    /// Reads `path` and interpolates `${VAR}` from the process environment.
    ///
    /// A variable whose value is not valid UTF-8 counts as unset.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            ConfigErrors(vec![ConfigError {
                place: path.display().to_string(),
                line: None,
                kind: ConfigErrorKind::Read(source),
            }])
        })?;
        parse(
            &text,
            path,
            &|name| std::env::var(name).ok(),
            Some(&files::read_schema),
        )
    }

    /// Parses `text` as if read from `path`, taking `${VAR}` values from `env`. Pure: no file
    /// system, no process environment.
    pub fn from_str_with_env(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        parse(text, path, env, None)
    }
}

/// The whole load: syntax, then the walk, then the checks that span several sources.
fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    schema_check: Option<&files::SchemaCheck>,
) -> Result<Config, ConfigErrors> {
    let mut cx = Ctx::new(text, env);
    let Some(doc) = cx.parse_toml() else {
        return Err(ConfigErrors(cx.errors));
    };
    let root = Tbl::root(&doc);
    cx.check_keys(&root, TOP_KEYS, &|_| None);
    let server = server::read(&mut cx, root.get("server"));
    let config_dir = path.parent().unwrap_or(Path::new(""));
    let mut storage = storage::read(&mut cx, root.get("storage"));
    files::resolve_store(&mut storage.url, config_dir);
    let quarantine = quarantine::read(&mut cx, root.get("quarantine"));
    let defaults = sources::read_defaults(&mut cx, root.get("defaults"));
    let sources = sources::read(
        &mut cx,
        root.get("sources"),
        &sources::Context {
            defaults: &defaults,
            server_max_body: server.max_body_bytes,
            config_dir,
            schema_check,
        },
    );
    cx.report(rules::server_warnings(&server));
    cx.report(rules::storage_warnings(
        &storage,
        sources.iter().map(|(source, _)| source),
    ));
    if sources.is_empty() && cx.errors.is_empty() {
        cx.report([Finding::Warning(
            "no [sources.NAME] configured: every /hooks request will get 404".to_owned(),
        )]);
    }
    match cx.finish() {
        Ok(warnings) => Ok(Config {
            path: path.to_path_buf(),
            server,
            storage,
            quarantine,
            sources: sources.into_iter().map(|(source, _)| source).collect(),
            warnings,
        }),
        Err(errors) => Err(ConfigErrors(errors)),
    }
}
