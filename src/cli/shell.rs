//! Quoting for the commands `hookwall sign` prints, so they can be pasted into a shell as they
//! are and send exactly the signed bytes.
//!
//! Printable ASCII goes in single quotes (nothing is special inside them; a `'` is written
//! `'\''`). Anything else (a line break, a control character, non-ASCII) goes in a `$'…'`
//! string with `\xHH` escapes, understood by bash, zsh and ksh: a plain POSIX `sh` does not
//! know it, but the printed line then also contains no raw control character that could act on
//! the terminal it is printed to. NUL cannot be passed in an argument at all: the caller refuses
//! such a body.

/// `bytes` as one shell word.
pub fn quote(bytes: &[u8]) -> String {
    let plain = bytes.iter().all(|b| matches!(b, b' '..=b'~'));
    if plain {
        let text = String::from_utf8_lossy(bytes);
        return format!("'{}'", text.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for &b in bytes {
        match b {
            b'\'' => out.push_str(r"\'"),
            b'\\' => out.push_str(r"\\"),
            b' '..=b'~' => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// What bash makes of the quoted word: the bytes printf receives as its one argument.
    fn through_bash(word: &str) -> Vec<u8> {
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!("printf '%s' {word}"))
            .output()
            .expect("bash runs");
        assert!(output.status.success(), "{word}");
        output.stdout
    }

    #[test]
    fn every_byte_but_nul_survives_the_shell_unchanged() {
        let cases: Vec<Vec<u8>> = vec![
            b"plain".to_vec(),
            b"it's $HOME `id` $(id) \"q\" \\ * ? ~ ! # ; & |".to_vec(),
            b"@file".to_vec(),
            "line1\nline2\r\n\ttab \u{e9}\u{202e}".as_bytes().to_vec(),
            b"\x01\x1b[2J\x7f\xff'\\'".to_vec(),
            (1..=255u8).collect(),
            Vec::new(),
        ];
        for bytes in cases {
            let word = quote(&bytes);
            assert!(
                !word.bytes().any(|b| b.is_ascii_control()),
                "a raw control byte would reach the terminal: {word:?}"
            );
            assert_eq!(through_bash(&word), bytes, "{word}");
        }
    }
}
