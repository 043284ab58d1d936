//! The real `hookwall` binary and admin tokens: `hookwall token hash` with a token piped in, and
//! the admin verbs turning a 403 and a 401 into words (against a real listening server).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::helpers::spawn_app_with;
use crate::roles::{GITHUB, VIEWER_TOKEN, every_role};

/// Runs the binary with `stdin` piped in, off the async runtime (the server under test runs on
/// it).
pub async fn hookwall(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookwall"));
    command
        .args(args)
        .env_remove("HOOKWALL_ADMIN_TOKEN")
        .env_remove("HOOKWALL_ADMIN_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("hookwall runs");
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(&stdin).expect("stdin written");
        drop(pipe);
        child.wait_with_output().expect("hookwall ends")
    })
    .await
    .expect("join")
}

/// What `sha256sum` prints for `bytes`: the hex digest before the file name.
fn sha256sum(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils) runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(bytes)
        .expect("stdin written");
    let output = child.wait_with_output().expect("sha256sum ends");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    text.split_whitespace().next().expect("a digest").to_owned()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn token_hash_prints_the_sha256sum_of_the_token_without_its_one_trailing_newline() {
    let token = "oncall-token-0123456789";
    for piped in [
        format!("{token}\n"),
        format!("{token}\r\n"),
        token.to_owned(),
    ] {
        let output = hookwall(&["token", "hash"], &[], piped.as_bytes()).await;
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_eq!(
            text(&output.stdout),
            format!("{}\n", sha256sum(token.as_bytes()))
        );
        assert!(!text(&output.stdout).contains(token));
    }
    // Only one line break goes; a second is part of the token, as are spaces.
    let twice = hookwall(&["token", "hash"], &[], format!("{token}\n\n").as_bytes()).await;
    assert!(twice.status.success());
    assert_eq!(
        text(&twice.stdout),
        format!("{}\n", sha256sum(format!("{token}\n").as_bytes()))
    );
}

#[tokio::test]
async fn token_hash_refuses_an_empty_token_with_exit_2() {
    for piped in ["", "\n", "\r\n"] {
        let output = hookwall(&["token", "hash"], &[], piped.as_bytes()).await;
        assert_eq!(output.status.code(), Some(2), "stdin {piped:?}");
        assert!(output.stdout.is_empty());
        assert!(
            text(&output.stderr).contains("the token is empty"),
            "{}",
            text(&output.stderr)
        );
    }
}

#[tokio::test]
async fn an_admin_verb_with_a_viewer_token_says_which_role_it_needs_in_words() {
    let mut app = spawn_app_with(&every_role(), GITHUB).await;
    let admin_url = format!("http://{}", app.admin_addr);
    let env = [
        ("HOOKWALL_ADMIN_URL", admin_url.as_str()),
        ("HOOKWALL_ADMIN_TOKEN", VIEWER_TOKEN),
    ];
    let replay = hookwall(
        &[
            "events",
            "replay",
            "00000000-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000002",
        ],
        &env,
        b"",
    )
    .await;
    assert_eq!(replay.status.code(), Some(1));
    let stderr = text(&replay.stderr);
    assert!(
        stderr.contains(
            "the token `dashboard` has role viewer; replaying needs operator — ask an admin for \
             an operator token"
        ),
        "{stderr}"
    );
    // It stops at the first refusal instead of repeating it for every id.
    assert_eq!(stderr.matches("has role viewer").count(), 1, "{stderr}");
    assert!(!stderr.contains(VIEWER_TOKEN), "{stderr}");

    let pause = hookwall(&["destinations", "pause", "github-1"], &env, b"").await;
    assert_eq!(pause.status.code(), Some(1));
    assert!(
        text(&pause.stderr).contains("pausing a destination needs operator"),
        "{}",
        text(&pause.stderr)
    );

    // A viewer may read: the same token lists events.
    let list = hookwall(&["events", "list"], &env, b"").await;
    assert!(list.status.success(), "{}", text(&list.stderr));
    app.stop().await;
}

#[tokio::test]
async fn an_admin_verb_with_an_unknown_token_says_the_server_does_not_know_it() {
    let mut app = spawn_app_with(&every_role(), GITHUB).await;
    let admin_url = format!("http://{}", app.admin_addr);
    let output = hookwall(
        &["dlq", "list"],
        &[
            ("HOOKWALL_ADMIN_URL", admin_url.as_str()),
            ("HOOKWALL_ADMIN_TOKEN", "a-token-nobody-configured"),
        ],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("HOOKWALL_ADMIN_TOKEN is not a token this server knows"),
        "{stderr}"
    );
    assert!(!stderr.contains("a-token-nobody-configured"), "{stderr}");
    app.stop().await;
}
