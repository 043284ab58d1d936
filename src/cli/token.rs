//! `hookwall token hash`: the hex SHA-256 of a token read from standard input, for
//! `token_sha256` in `[[server.admin_tokens]]` (so the config file need not hold the token).
//!
//! Only one trailing line break (`\n` or `\r\n`, what `echo` or a secrets file adds) is
//! stripped: anything else is part of the token, as the server would see it. The token is never
//! printed, and an empty one is refused (exit 2).

use std::io::Read;
use std::process::ExitCode;

use clap::Subcommand;
use sha2::{Digest, Sha256};

/// The longest token read; a bearer token is a header value, far shorter than this.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print the hex SHA-256 of the token on standard input (one trailing newline stripped),
    /// for `token_sha256` in `[[server.admin_tokens]]`.
    Hash,
}

pub fn run(command: TokenCommand) -> ExitCode {
    match command {
        TokenCommand::Hash => hash(&mut std::io::stdin().lock()),
    }
}

fn hash(input: &mut impl Read) -> ExitCode {
    let mut token = Vec::new();
    // One byte more than allowed, to tell "at the limit" from "over it".
    if let Err(err) = input.take(MAX_TOKEN_BYTES + 1).read_to_end(&mut token) {
        eprintln!("hookwall token hash: cannot read standard input: {err}");
        return ExitCode::from(2);
    }
    if token.len() as u64 > MAX_TOKEN_BYTES {
        eprintln!(
            "hookwall token hash: standard input is longer than {MAX_TOKEN_BYTES} bytes; pipe \
             the token alone"
        );
        return ExitCode::from(2);
    }
    let token = strip_one_line_break(&token);
    if token.is_empty() {
        eprintln!(
            "hookwall token hash: the token is empty; pipe it in, e.g. \
             `printf %s \"$TOKEN\" | hookwall token hash`"
        );
        return ExitCode::from(2);
    }
    if !token.iter().all(u8::is_ascii_graphic) {
        eprintln!(
            "hookwall token hash: warning: the token holds whitespace, a line break or \
             non-ASCII bytes; a client cannot send it as one bearer token"
        );
    }
    println!("{}", hex::encode(Sha256::digest(token)));
    ExitCode::SUCCESS
}

/// `text` without one trailing `\r\n` or `\n`.
fn strip_one_line_break(text: &[u8]) -> &[u8] {
    text.strip_suffix(b"\r\n")
        .or_else(|| text.strip_suffix(b"\n"))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::strip_one_line_break;

    #[test]
    fn only_one_trailing_line_break_is_stripped() {
        assert_eq!(strip_one_line_break(b"abc\n"), b"abc");
        assert_eq!(strip_one_line_break(b"abc\r\n"), b"abc");
        assert_eq!(strip_one_line_break(b"abc\n\n"), b"abc\n");
        assert_eq!(strip_one_line_break(b" abc "), b" abc ");
        assert_eq!(strip_one_line_break(b"abc\r"), b"abc\r");
    }
}
