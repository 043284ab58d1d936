//! A source's `schema` file as a compiled JSON Schema validator: the one compiler, with the one
//! set of options, that both `hookwall check` (does the file compile?) and the pipeline (step 11)
//! use, so a schema the check accepts is a schema the gateway runs. Remote `$ref`s are never
//! fetched (the crate is built without it).

use std::path::Path;

use serde_json::Value;

/// Compiles a schema document.
pub fn compile(document: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .build(document)
        .map_err(|err| err.to_string())
}

/// Reads and compiles a schema file; the message names the file, never its content.
pub fn read(path: &Path) -> Result<jsonschema::Validator, String> {
    let text = std::fs::read(path).map_err(|err| {
        format!(
            "cannot read {}: {err} (a relative schema path is relative to the config file's \
             directory)",
            path.display()
        )
    })?;
    let document: Value = serde_json::from_slice(&text)
        .map_err(|err| format!("{} is not JSON: {err}", path.display()))?;
    compile(&document)
        .map_err(|err| format!("{} is not a valid JSON Schema: {err}", path.display()))
}
