//! The CLI's HTTP client, and what the CLI says when a request to hookwall fails: the cause a
//! user can act on ("connection refused to http://127.0.0.1:9091"), not reqwest's error chain
//! ("error sending request for url (…)").

use std::error::Error as _;
use std::process::ExitCode;
use std::time::Duration;

/// A client whose requests give up after `timeout`; on failure, says so as `hookwall {verb}`.
pub fn client(verb: &str, timeout: Duration) -> Result<reqwest::Client, ExitCode> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|err| {
            eprintln!("hookwall {verb}: {err}");
            ExitCode::FAILURE
        })
}

/// One line for a failed request to `url`. The query is left out (it is noise here, and a URL
/// given by a user may carry something private in it).
pub fn describe(err: &reqwest::Error, url: &str) -> String {
    let target = url.split(['?', '#']).next().unwrap_or(url);
    if err.is_timeout() {
        return format!("no answer from {target} in time (is the server overloaded or hung?)");
    }
    let io = io_cause(err);
    if let Some(kind) = io.map(std::io::Error::kind) {
        match kind {
            std::io::ErrorKind::ConnectionRefused => {
                return format!(
                    "connection refused to {target} (is hookwall running and listening there?)"
                );
            }
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                return format!("the connection to {target} was closed before an answer");
            }
            _ => {}
        }
    }
    let cause = io.map_or_else(|| innermost(err), ToString::to_string);
    if err.is_connect() {
        format!("cannot connect to {target}: {cause}")
    } else {
        format!("request to {target} failed: {cause}")
    }
}

fn io_cause(err: &reqwest::Error) -> Option<&std::io::Error> {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = cause.source();
    }
    None
}

/// The last error of the chain: the one that says what went wrong.
fn innermost(err: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = err;
    while let Some(cause) = last.source() {
        last = cause;
    }
    last.to_string()
}
