//! Routing (SPEC section 10): which of a source's destinations take an event, decided once,
//! when the event is stored. Each destination may carry a filter on the event's type, on values
//! in its parsed body (JSON Pointers) and on its headers; the destinations whose filter holds
//! (or that have none) each get a delivery, written in the transaction that stores the event.
//! An event no destination takes is stored `ignored`.
//!
//! Everything matched here came from the provider: a pointer that resolves to nothing, an
//! object, an array or null matches nothing, and no value is ever evaluated as a pattern (only
//! a configured `event_types` entry ending in `*` matches by prefix).

use http::HeaderMap;
use serde_json::Value;

use crate::config::{Destination, Filter};

/// A source's destinations in config order, each with its filter.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<(String, Option<Filter>)>,
}

/// What a filter looks at in one event.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub event_type: Option<&'a str>,
    /// The parsed body when it is JSON or a form (`None` for any other body).
    pub body: Option<&'a Value>,
    pub headers: &'a HeaderMap,
}

impl Routes {
    pub fn of(destinations: &[Destination]) -> Routes {
        Routes {
            routes: destinations
                .iter()
                .map(|d| (d.name.clone(), d.filter.clone()))
                .collect(),
        }
    }

    /// The names of the destinations that take `event`, in config order.
    pub fn select(&self, event: &Seen) -> Vec<String> {
        self.routes
            .iter()
            .filter(|(_, filter)| filter.as_ref().is_none_or(|f| matches(f, event)))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether any destination has a filter (otherwise every event goes everywhere).
    pub fn filters(&self) -> bool {
        self.routes.iter().any(|(_, filter)| filter.is_some())
    }
}

/// Whether `event` passes `filter`: every condition given holds; within one list any value.
pub fn matches(filter: &Filter, event: &Seen) -> bool {
    let types = filter.event_types.as_ref().is_none_or(|accepted| {
        event
            .event_type
            .is_some_and(|ty| accepted.iter().any(|pattern| type_matches(pattern, ty)))
    });
    types
        && filter.body.iter().all(|(pointer, accepted)| {
            event
                .body
                .and_then(|body| body.pointer(pointer))
                .is_some_and(|value| value_matches(value, accepted))
        })
        && filter.headers.iter().all(|(name, accepted)| {
            event
                .headers
                .get_all(name.as_str())
                .iter()
                .any(|value| accepted.iter().any(|a| a.as_bytes() == value.as_bytes()))
        })
}

/// `pattern` equals `ty`, or ends in `*` and the rest is a prefix of `ty`.
fn type_matches(pattern: &str, ty: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => ty.starts_with(prefix),
        None => pattern == ty,
    }
}

/// A string equal to one of `accepted`, or a number or boolean whose JSON text is.
fn value_matches(value: &Value, accepted: &[String]) -> bool {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => return false,
    };
    accepted.contains(&text)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn filter() -> Filter {
        Filter::default()
    }

    fn seen<'a>(ty: Option<&'a str>, body: &'a Value, headers: &'a HeaderMap) -> Seen<'a> {
        Seen {
            event_type: ty,
            body: Some(body),
            headers,
        }
    }

    #[test]
    fn an_event_type_matches_exactly_or_by_a_trailing_star() {
        let f = Filter {
            event_types: Some(vec!["push".into(), "customer.*".into()]),
            ..filter()
        };
        let (body, headers) = (json!({}), HeaderMap::new());
        assert!(matches(&f, &seen(Some("push"), &body, &headers)));
        assert!(matches(
            &f,
            &seen(Some("customer.created"), &body, &headers)
        ));
        assert!(!matches(&f, &seen(Some("pushed"), &body, &headers)));
        assert!(!matches(&f, &seen(Some("customer"), &body, &headers)));
        assert!(
            !matches(&f, &seen(None, &body, &headers)),
            "no type, no match"
        );
        let any = Filter {
            event_types: Some(vec!["*".into()]),
            ..filter()
        };
        assert!(matches(&any, &seen(Some("anything"), &body, &headers)));
        assert!(!matches(&any, &seen(None, &body, &headers)));
    }

    #[test]
    fn a_body_value_matches_as_a_string_or_as_the_json_text_of_a_number_or_boolean() {
        let f = |pointer: &str, values: &[&str]| Filter {
            body: vec![(
                pointer.to_owned(),
                values.iter().map(|v| (*v).to_owned()).collect(),
            )],
            ..filter()
        };
        let body = json!({
            "repository": {"full_name": "acme/api"},
            "amount": 2000,
            "live": true,
            "ratio": 1.5,
            "tags": ["a"],
            "meta": {"x": 1},
            "none": null,
            "a/b": {"~c": "escaped"},
        });
        let headers = HeaderMap::new();
        let on = |f: &Filter| matches(f, &seen(None, &body, &headers));
        assert!(on(&f("/repository/full_name", &["acme/web", "acme/api"])));
        assert!(!on(&f("/repository/full_name", &["acme/web"])));
        assert!(on(&f("/amount", &["2000"])));
        assert!(!on(&f("/amount", &["2000.0"])));
        assert!(on(&f("/live", &["true"])));
        assert!(on(&f("/ratio", &["1.5"])));
        assert!(on(&f("/a~1b/~0c", &["escaped"])), "RFC 6901 escapes");
        for never in [
            "/tags",
            "/meta",
            "/none",
            "/missing",
            "/repository/full_name/x",
        ] {
            assert!(
                !on(&f(never, &["", "null", "[\"a\"]", "{\"x\":1}"])),
                "{never}"
            );
        }
        let no_body = Seen {
            event_type: None,
            body: None,
            headers: &headers,
        };
        assert!(
            !matches(&f("", &[""]), &no_body),
            "an opaque body matches no pointer"
        );
    }

    #[test]
    fn header_names_are_case_insensitive_and_values_exact() {
        let f = Filter {
            headers: vec![("x-github-event".into(), vec!["push".into()])],
            ..filter()
        };
        let body = json!({});
        let mut headers = HeaderMap::new();
        headers.insert("X-GitHub-Event", HeaderValue::from_static("push"));
        assert!(matches(&f, &seen(None, &body, &headers)));
        headers.insert("X-GitHub-Event", HeaderValue::from_static("Push"));
        assert!(!matches(&f, &seen(None, &body, &headers)));
        assert!(!matches(&f, &seen(None, &body, &HeaderMap::new())));
    }

    #[test]
    fn every_condition_must_hold() {
        let f = Filter {
            event_types: Some(vec!["push".into()]),
            body: vec![("/ref".into(), vec!["refs/heads/main".into()])],
            headers: Vec::new(),
        };
        let headers = HeaderMap::new();
        let main = json!({"ref": "refs/heads/main"});
        let other = json!({"ref": "refs/heads/dev"});
        assert!(matches(&f, &seen(Some("push"), &main, &headers)));
        assert!(!matches(&f, &seen(Some("push"), &other, &headers)));
        assert!(!matches(&f, &seen(Some("issues"), &main, &headers)));
    }

    #[test]
    fn routes_select_the_destinations_whose_filter_holds_in_config_order() {
        let routes = Routes {
            routes: vec![
                ("all".into(), None),
                (
                    "pushes".into(),
                    Some(Filter {
                        event_types: Some(vec!["push".into()]),
                        ..filter()
                    }),
                ),
                (
                    "issues".into(),
                    Some(Filter {
                        event_types: Some(vec!["issues".into()]),
                        ..filter()
                    }),
                ),
            ],
        };
        let (body, headers) = (json!({}), HeaderMap::new());
        assert_eq!(
            routes.select(&seen(Some("push"), &body, &headers)),
            ["all", "pushes"]
        );
        assert!(routes.filters());
        let only_issues = Routes {
            routes: routes.routes[2..].to_vec(),
        };
        assert!(
            only_issues
                .select(&seen(Some("push"), &body, &headers))
                .is_empty(),
            "no destination takes it: the event is stored ignored"
        );
        assert!(!Routes::default().filters());
    }
}
