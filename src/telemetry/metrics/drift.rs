//! Drift checks between the metrics this crate registers and the monitoring assets that name
//! them as strings (docs/monitoring/ and the runbook in docs/operations.md): a renamed metric
//! or label would otherwise leave alerts that never fire and empty panels, and every alert
//! must have its own section of the runbook.

use std::collections::{BTreeMap, BTreeSet};

use prometheus::proto::MetricType;

use super::tests::touch_every_metric;
use super::*;

const ALERTS: &str = include_str!("../../../docs/monitoring/alerts.yml");
const DASHBOARD: &str = include_str!("../../../docs/monitoring/grafana-dashboard.json");
const RUNBOOK: &str = include_str!("../../../docs/operations.md");

/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

struct Family {
    kind: MetricType,
    labels: BTreeSet<String>,
}

/// Every family the registry exports, by name, with its type and label names.
fn registered() -> BTreeMap<String, Family> {
    let m = metrics();
    touch_every_metric(m);
    m.registry
        .gather()
        .iter()
        .map(|family| {
            let labels = family
                .get_metric()
                .iter()
                .flat_map(|metric| metric.get_label())
                .map(|label| label.name().to_owned())
                .collect();
            let family_info = Family {
                kind: family.get_field_type(),
                labels,
            };
            (family.name().to_owned(), family_info)
        })
        .collect()
}

/// One `hookwall_…` name in a text, with the label names of its selector if one follows.
#[derive(Debug)]
struct Mention<'a> {
    name: &'a str,
    labels: Vec<&'a str>,
}

/// Every `hookwall_[a-z_]+` in `text` that is not the tail of a longer word.
fn mentions(text: &str) -> Vec<Mention<'_>> {
    text.match_indices("hookwall_")
        .filter(|(at, _)| {
            !text[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(rest.len());
            let labels = rest[end..]
                .strip_prefix('{')
                .and_then(|selector| selector.split_once('}'))
                .map(|(selector, _)| {
                    selector
                        .split(',')
                        .filter_map(|matcher| {
                            let label = matcher.split(['=', '!']).next()?.trim();
                            (!label.is_empty()).then_some(label)
                        })
                        .collect()
                })
                .unwrap_or_default();
            Mention {
                name: &rest[..end],
                labels,
            }
        })
        .collect()
}

/// Checks one mention: a registered family, or for a histogram one of its `_bucket`,
/// `_sum`, `_count` series (the bare family name selects nothing in PromQL, so it is only
/// allowed in prose); every label in its selector one the series has. Returns those labels.
fn check<'f>(
    mention: &Mention<'_>,
    families: &'f BTreeMap<String, Family>,
    promql: bool,
) -> Result<BTreeSet<&'f str>, String> {
    let name = mention.name;
    let (family, bucket) = match families.get(name) {
        Some(family) if promql && family.kind == MetricType::HISTOGRAM => {
            return Err(format!(
                "{name} is a histogram: query {name}_bucket, _sum or _count"
            ));
        }
        Some(family) => (family, false),
        None => {
            let series = ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
                let family = families.get(name.strip_suffix(suffix)?)?;
                (family.kind == MetricType::HISTOGRAM).then_some((family, *suffix == "_bucket"))
            });
            series.ok_or_else(|| format!("{name} is not a metric hookwall registers"))?
        }
    };
    let mut labels: BTreeSet<&str> = family.labels.iter().map(String::as_str).collect();
    labels.extend(TARGET_LABELS);
    if bucket {
        labels.insert("le");
    }
    for label in &mention.labels {
        if !labels.contains(label) {
            return Err(format!("{name} has no label {label:?}"));
        }
    }
    Ok(labels)
}

/// The label lists of `by (…)` and `on (…)` in a PromQL expression.
fn grouping_labels(expr: &str) -> Vec<&str> {
    let mut labels = Vec::new();
    for keyword in ["by", "on"] {
        for (at, _) in expr.match_indices(keyword) {
            let word_start = !expr[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            let Some(list) = expr[at + keyword.len()..].trim_start().strip_prefix('(') else {
                continue;
            };
            if word_start && let Some((list, _)) = list.split_once(')') {
                labels.extend(list.split(',').map(str::trim).filter(|l| !l.is_empty()));
            }
        }
    }
    labels
}

/// Checks every mention in each text; for PromQL, also that each label it groups or
/// matches by belongs to one of the series it names.
fn check_all<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    families: &BTreeMap<String, Family>,
    promql: bool,
) -> (usize, Vec<String>) {
    let mut seen = 0;
    let mut errors = Vec::new();
    for text in texts {
        let mut available = BTreeSet::new();
        let mut named = false;
        for mention in mentions(text) {
            seen += 1;
            named = true;
            match check(&mention, families, promql) {
                Ok(labels) => available.extend(labels),
                Err(error) => errors.push(error),
            }
        }
        if promql && named {
            for label in grouping_labels(text) {
                if !available.contains(label) {
                    errors.push(format!("no series of {text:?} has the label {label:?}"));
                }
            }
        }
    }
    (seen, errors)
}

/// The PromQL of alerts.yml: each `expr:`, inline or as an indented block.
fn alert_expressions(yaml: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if !value.starts_with(['|', '>']) {
            exprs.push(value.to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let mut block = String::new();
        while let Some(next) = lines.peek() {
            let deeper = next.len() - next.trim_start().len() > indent;
            if !(deeper || next.trim().is_empty()) {
                break;
            }
            block.push_str(next.trim());
            block.push('\n');
            lines.next();
        }
        exprs.push(block);
    }
    exprs
}

/// The PromQL of the dashboard: every target's `expr` and the template variables' queries.
fn dashboard_expressions(json: &serde_json::Value) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in json["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.extend(target["expr"].as_str().map(str::to_owned));
        }
    }
    for variable in json["templating"]["list"].as_array().into_iter().flatten() {
        exprs.extend(variable["definition"].as_str().map(str::to_owned));
        exprs.extend(variable["query"]["query"].as_str().map(str::to_owned));
    }
    exprs
}

/// Guards the extraction itself: every expression but the scrape's own `up` names one of
/// hookwall's metrics, so a query the scan cannot read does not pass unchecked.
fn assert_names_a_metric(exprs: &[String]) {
    for expr in exprs {
        assert!(
            expr.contains("up{") || !mentions(expr).is_empty(),
            "no hookwall metric found in {expr}"
        );
    }
}

#[test]
fn the_drift_check_refuses_names_and_labels_the_code_does_not_register() {
    let families = registered();
    let text = r#"rate(hookwall_requests_total{source="a", outcome="x"}[5m])
        hookwall_request_duration_seconds_bucket{le="0.5"}"#;
    assert_eq!(check_all([text], &families, true).1, Vec::<String>::new());
    for wrong in [
        "hookwall_request_total",
        "hookwall_requests_total_count",
        "hookwall_queue_depth_bucket",
        r#"hookwall_delivery_duration_seconds_bucket{source="a"}"#,
        r#"hookwall_requests_total{le="1"}"#,
        "rate(hookwall_request_duration_seconds[5m])",
        "sum by (destination) (rate(hookwall_requests_total[5m]))",
    ] {
        let (seen, errors) = check_all([wrong], &families, true);
        assert_eq!((seen, errors.len()), (1, 1), "{wrong} passed the check");
    }
}

#[test]
fn alert_rules_use_only_metrics_and_labels_the_code_registers() {
    let families = registered();
    let exprs = alert_expressions(ALERTS);
    assert_eq!(
        exprs.len(),
        ALERTS.matches("- alert:").count(),
        "one expr per alert"
    );
    assert_names_a_metric(&exprs);
    let (_, errors) = check_all(exprs.iter().map(String::as_str), &families, true);
    assert_eq!(errors, Vec::<String>::new());
    // Comments and annotations may name a histogram family.
    let (_, errors) = check_all([ALERTS], &families, false);
    assert_eq!(errors, Vec::<String>::new());
}

#[test]
fn dashboard_queries_use_only_metrics_and_labels_the_code_registers() {
    let families = registered();
    let json: serde_json::Value =
        serde_json::from_str(DASHBOARD).expect("grafana-dashboard.json is valid JSON");
    let exprs = dashboard_expressions(&json);
    assert!(exprs.len() >= 10, "too few queries found: {}", exprs.len());
    assert_names_a_metric(&exprs);
    let (_, errors) = check_all(exprs.iter().map(String::as_str), &families, true);
    assert_eq!(errors, Vec::<String>::new());
    let (_, errors) = check_all([DASHBOARD], &families, false);
    assert_eq!(errors, Vec::<String>::new());
}

/// The anchor GitHub gives a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_links_to_its_own_section_of_the_runbook() {
    let anchors: BTreeSet<String> = RUNBOOK
        .lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| anchor(heading.trim_start_matches('#')))
        .collect();
    let alerts: Vec<&str> = ALERTS
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert:"))
        .map(str::trim)
        .collect();
    let urls: Vec<&str> = ALERTS
        .lines()
        .filter_map(|line| line.trim().strip_prefix("runbook_url:"))
        .map(str::trim)
        .collect();
    assert!(!alerts.is_empty());
    assert_eq!(alerts.len(), urls.len(), "every alert has one runbook_url");
    for (alert, url) in alerts.iter().zip(&urls) {
        let own = anchor(alert);
        assert!(
            anchors.contains(&own),
            "docs/operations.md has no section {alert}"
        );
        assert!(
            url.ends_with(&format!("operations.md#{own}")),
            "{alert}'s runbook_url {url} is not docs/operations.md#{own}"
        );
    }
}
