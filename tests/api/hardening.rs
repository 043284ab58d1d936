//! The second hardening round's smaller findings, through a real server: what a provider's
//! payload may not be ambiguous about, and what an operator's tools must not be tricked by.

use reqwest::StatusCode;

use crate::helpers::{json, schemas_dir, spawn_app, stored_in, toml_str};

const TOKEN: &str = "Bearer hardening-token";

fn token_source(extra: &str) -> String {
    format!(
        "[sources.zap]\nprovider = \"token\"\nsecrets = [{}]\n{extra}\n",
        toml_str(TOKEN)
    )
}

/// `serde_json` keeps the last of two equal keys; many handlers act on the first. The schema
/// would then have checked a different value from the one the handler reads.
#[tokio::test]
async fn a_json_body_that_names_a_key_twice_is_400_and_not_stored() {
    let schema = schemas_dir().join("github.json");
    let mut app = spawn_app(&token_source(&format!(
        "schema = {}",
        toml_str(&schema.display().to_string())
    )))
    .await;
    let headers = [
        ("content-type", "application/json"),
        ("authorization", TOKEN),
    ];
    let twice = br#"{"zen":"a","hook_id":1,"hook_id":"x","sender":{"login":"o"}}"#;
    let response = app.post("/hooks/zap", &headers, twice.to_vec()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem = json(response).await;
    assert_eq!(problem["detail"], "invalid payload");
    let once = br#"{"zen":"a","hook_id":1,"sender":{"login":"o"}}"#;
    let response = app.post("/hooks/zap", &headers, once.to_vec()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.stop().await;
    let stored = stored_in(&app.db_path).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].2, once.to_vec());
}

/// An empty NDJSON body has no line for the schema to check, so its `required` fields were
/// never asked for.
#[tokio::test]
async fn an_ndjson_body_without_a_line_is_400_even_where_a_schema_requires_fields() {
    let schema = schemas_dir().join("brightdata-delivery.json");
    let mut app = spawn_app(&format!(
        "[sources.bd]\nprovider = \"brightdata\"\nsecrets = [{}]\nschema = {}\n",
        toml_str(TOKEN),
        toml_str(&schema.display().to_string())
    ))
    .await;
    for body in [&b""[..], b"\n\n", b"  \r\n"] {
        let response = app
            .post(
                "/hooks/bd",
                &[
                    ("content-type", "application/x-ndjson"),
                    ("authorization", TOKEN),
                ],
                body.to_vec(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body:?}");
    }
    app.stop().await;
    assert!(stored_in(&app.db_path).await.is_empty());
}

/// A client chooses its own `x-request-id`; the CSV export is opened by an operator in a
/// spreadsheet, which would run a cell starting with `=` as a formula.
#[tokio::test]
async fn a_csv_export_shows_a_formula_chosen_by_a_client_as_text() {
    let mut app = spawn_app(&token_source("")).await;
    let formula = "=HYPERLINK(\"http://evil.example/\",\"open\")";
    let response = app
        .post(
            "/hooks/zap",
            &[
                ("content-type", "application/json"),
                ("authorization", TOKEN),
                ("x-request-id", formula),
            ],
            br#"{"n":1}"#.to_vec(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let csv = app
        .admin_get("/admin/events/export?format=csv")
        .await
        .text()
        .await
        .expect("text");
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    let request_id_column = reader
        .headers()
        .expect("a header row")
        .iter()
        .position(|name| name == "request_id")
        .expect("a request_id column");
    let row = reader.records().next().expect("one row").expect("parses");
    assert_eq!(&row[request_id_column], format!("'{formula}"));
    app.stop().await;
}
