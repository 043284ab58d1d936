//! How an event's body is shown: as text, always (the page escapes it). JSON is re-indented
//! without being re-encoded, so numbers, key order and escapes read exactly as the provider
//! sent them; bytes that are not UTF-8 are shown as `\xNN`.

/// The body as the event page shows it, and whether it was re-indented JSON.
pub fn shown(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
            (indent_json(text), true)
        }
        Ok(text) => (text.to_owned(), false),
        Err(_) => (escaped(bytes), false),
    }
}

/// Valid UTF-8 as it is, every other byte as `\xNN`.
fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Re-indents valid JSON `text` by two spaces per level, leaving every token as it was.
fn indent_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // Skip whitespace to see whether the container is empty.
                while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_indented_with_its_numbers_and_escapes_untouched() {
        let (text, json) = shown(
            br#"{"a":[1,2.50,{}],"b":"x,\"{y}\"","n":123456789012345678901234567890,"e":[]}"#,
        );
        assert!(json);
        assert_eq!(
            text,
            "{\n  \"a\": [\n    1,\n    2.50,\n    {}\n  ],\n  \"b\": \"x,\\\"{y}\\\"\",\n  \"n\": 123456789012345678901234567890,\n  \"e\": []\n}"
        );
    }

    #[test]
    fn text_stays_text_and_other_bytes_are_escaped() {
        assert_eq!(
            shown(b"<script>alert(1)</script>"),
            ("<script>alert(1)</script>".to_owned(), false)
        );
        assert_eq!(
            shown(b"ok \xff\xfe end \xc3\xa9"),
            ("ok \\xff\\xfe end \u{e9}".to_owned(), false)
        );
        assert_eq!(
            shown(b"{\"unclosed\": "),
            ("{\"unclosed\": ".to_owned(), false)
        );
    }
}
