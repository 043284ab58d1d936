//! `TCP_NODELAY` on the PostgreSQL store's connections, which sqlx 0.9.0 no longer sets.
//!
//! sqlx 0.9.0 opens its TCP connections with Nagle's algorithm on (a regression:
//! transact-rs/sqlx#4335, fixed by #4336 after 0.9.0 and not yet released). A query written as
//! two small segments then waits for PostgreSQL's delayed ACK, about 40 ms on Linux, so each
//! round trip of the store took 40 ms over TCP (docs/scale-out.md). sqlx gives no access to its
//! sockets, so after each new connection the process's own descriptors are looked at: every
//! TCP socket connected to the database's port gets `TCP_NODELAY`. Setting it on a socket that
//! is not the store's (another connection to that port) only makes that socket send at once.
//!
//! Remove this module once hookwall is on a sqlx release with the fix; the test in
//! `tests/store_conformance.rs` then passes without it.

use std::io;
use std::net::TcpStream;

/// Sets `TCP_NODELAY` on every TCP socket of this process connected to `port`; returns how many
/// sockets it set it on. An error says the process's sockets could not be looked at (no
/// `/proc/self/fd`: not Linux, or no procfs mounted).
pub fn set_on_connections_to(port: u16) -> io::Result<usize> {
    Ok(tcp_sockets()?
        .filter(|socket| socket.peer_addr().is_ok_and(|peer| peer.port() == port))
        .filter(|socket| socket.nodelay().is_ok_and(|on| !on) && socket.set_nodelay(true).is_ok())
        .count())
}

/// A handle on each connected TCP socket this process has open. Each is a descriptor of its
/// own for the socket: dropping it closes that descriptor only, and options set through it are
/// the socket's.
pub fn tcp_sockets() -> io::Result<impl Iterator<Item = TcpStream>> {
    #[cfg(target_os = "linux")]
    {
        Ok(linux::sockets()?.filter(|socket| socket.peer_addr().is_ok()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err::<std::iter::Empty<TcpStream>, _>(io::Error::new(
            io::ErrorKind::Unsupported,
            "listing the process's sockets needs Linux",
        ))
    }
}

#[cfg(target_os = "linux")]
// The one place hookwall uses `unsafe`: std and rustix copy a descriptor only through a
// `BorrowedFd`, which promises that the number stays open while borrowed, and another thread
// may close any of these at any time. `fcntl` on a bare number promises nothing and is sound
// whatever the number refers to. (`pidfd_getfd` would be safe code, but seccomp profiles such as
// systemd's `@system-service` refuse it, which kills the process.)
#[allow(unsafe_code)]
mod linux {
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    /// Every socket descriptor, as a `TcpStream` whatever its kind: a socket that is not a
    /// connected TCP socket fails the calls made on it (the address of a Unix socket does not
    /// convert, an unconnected one has no peer, a UDP socket refuses TCP options).
    pub fn sockets() -> io::Result<impl Iterator<Item = TcpStream>> {
        let entries = std::fs::read_dir("/proc/self/fd")?;
        Ok(entries
            .flatten()
            .filter(|entry| {
                // `/proc/self/fd/N` of a socket links to `socket:[inode]`.
                std::fs::read_link(entry.path()).is_ok_and(|target| {
                    target
                        .as_os_str()
                        .as_encoded_bytes()
                        .starts_with(b"socket:")
                })
            })
            .filter_map(|entry| entry.file_name().to_str()?.parse::<RawFd>().ok())
            .filter_map(copy)
            .map(TcpStream::from))
    }

    /// A descriptor of our own for whatever `fd` refers to now, or `None` if it is closed. The
    /// number may have been closed, or closed and reused, since the directory was read: the
    /// copy is then of whatever it is now, or nothing, never a descriptor someone else owns.
    fn copy(fd: RawFd) -> Option<OwnedFd> {
        // SAFETY: F_DUPFD_CLOEXEC reads no memory; on a number that is not open it fails with
        // EBADF, and on one that is it makes a new descriptor and changes nothing else.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if copy < 0 {
            return None;
        }
        // SAFETY: `copy` was just returned by fcntl: it is open and nothing else owns it.
        Some(unsafe { OwnedFd::from_raw_fd(copy) })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn sets_nodelay_on_connections_to_the_port_and_leaves_others_alone() {
        let database = TcpListener::bind("127.0.0.1:0").expect("bind");
        let other = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = database.local_addr().expect("address").port();
        let to_database =
            TcpStream::connect(database.local_addr().expect("address")).expect("connect");
        let to_other = TcpStream::connect(other.local_addr().expect("address")).expect("connect");
        assert!(!to_database.nodelay().expect("nodelay"), "off by default");

        assert_eq!(
            super::set_on_connections_to(port).expect("sockets listed"),
            1
        );
        assert_eq!(
            super::set_on_connections_to(port).expect("sockets listed"),
            0,
            "already set"
        );

        assert!(to_database.nodelay().expect("nodelay"));
        assert!(!to_other.nodelay().expect("nodelay"));
        // The sockets are still open and usable: only duplicates were closed.
        let (mut accepted, _) = database.accept().expect("accept");
        std::io::Write::write_all(&mut &to_database, b"ping").expect("write");
        let mut got = [0; 4];
        std::io::Read::read_exact(&mut accepted, &mut got).expect("read");
        assert_eq!(&got, b"ping");
    }
}
