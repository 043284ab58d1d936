//! Step 3: who is the client? The TCP peer, unless the peer is a trusted proxy.
//!
//! `X-Forwarded-For` is a list every hop appends to, and the left part is whatever the client
//! wrote. So it is read from the right, and only while the hop that wrote it is trusted: the
//! first address (from the right) that is not itself a trusted proxy is the client. Any other
//! reading (left-most, or trusting any peer) lets a client choose its own address and walk past
//! allowlists and rate limits. `X-Forwarded-Proto` is believed under the same condition.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// The resolved client of a request, placed in its extensions for the later layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Whether the request reached the first trusted hop over HTTPS, when that is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardedHttps(pub bool);

/// At most this many `X-Forwarded-For` entries are looked at: a longer chain than this is not a
/// real proxy path, and walking it would let a client make us do unbounded work.
const MAX_HOPS: usize = 32;

/// Resolves the client address from the peer and the `X-Forwarded-For` headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    // Several XFF headers are one list in order (RFC 9110 field combination).
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|value| {
            // A non-ASCII value is treated as one unparseable hop.
            let text = value.to_str().unwrap_or("\u{0}");
            text.rsplit(',').map(str::trim)
        })
        .take(MAX_HOPS);
    let mut client = peer;
    for hop in hops {
        match parse_hop(hop) {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip, trusted) {
                    return ip;
                }
            }
            // Garbage written by a trusted proxy's client: stop at the last good address.
            None => return client,
        }
    }
    client
}

/// `X-Forwarded-Proto` as seen by the first trusted hop, or `None` when the peer is not trusted
/// (an untrusted client's claim is ignored).
pub fn forwarded_https(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<bool> {
    if !is_trusted(canonical(peer), trusted) {
        return None;
    }
    // The right-most value is the one our proxy set.
    let proto = headers.get_all("x-forwarded-proto").iter().next_back()?;
    let last = proto.to_str().ok()?.rsplit(',').next()?.trim();
    Some(last.eq_ignore_ascii_case("https"))
}

/// Whether the TCP peer is one of `server.trusted_proxies`: only then are its forwarding
/// headers (and its `traceparent`, SPEC section 14) believed.
pub fn peer_is_trusted(peer: IpAddr, trusted: &[IpNet]) -> bool {
    is_trusted(canonical(peer), trusted)
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// An IPv4 client reaching a dual-stack socket appears as `::ffff:a.b.c.d`; allowlists are
/// written with the IPv4 form.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One hop: an IP, possibly with a port (`1.2.3.4:5678`, `[::1]:80`) as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if hop.len() > 64 {
        return None;
    }
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<SocketAddr>().ok().map(|sa| canonical(sa.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("test CIDR")).collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().expect("test header"));
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test ip")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let headers = xff(&["203.0.113.9"]);
        assert_eq!(
            resolve(ip("198.51.100.7"), &headers, &nets(&["10.0.0.0/8"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_in_the_right_most_entry() {
        let headers = xff(&["203.0.113.9"]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers, &nets(&["10.0.0.0/8"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_client_cannot_spoof_by_prepending_entries() {
        // The client sent "X-Forwarded-For: 192.30.252.1"; Traefik appended the real address.
        let headers = xff(&["192.30.252.1, 198.51.100.7"]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers, &nets(&["10.0.0.0/8"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn chained_trusted_proxies_are_skipped() {
        let headers = xff(&["198.51.100.7, 10.0.0.5", "10.0.0.6"]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers, &nets(&["10.0.0.0/8"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_good_hop() {
        let headers = xff(&["not-an-ip, 10.0.0.5"]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers, &nets(&["10.0.0.0/8"])),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        assert_eq!(
            resolve(ip("10.0.0.2"), &HeaderMap::new(), &nets(&["10.0.0.0/8"])),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ports_and_ipv6_and_mapped_addresses_are_understood() {
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            resolve(
                ip("::ffff:127.0.0.1"),
                &xff(&["[2001:db8::1]:443"]),
                &trusted
            ),
            ip("2001:db8::1")
        );
        assert_eq!(
            resolve(ip("127.0.0.1"), &xff(&["203.0.113.9:1234"]), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(canonical(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn a_flood_of_trusted_looking_hops_is_bounded() {
        let long = vec!["10.0.0.1"; 10_000].join(",");
        let headers = xff(&[&long]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers, &nets(&["10.0.0.0/8"])),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn forwarded_proto_is_believed_only_from_a_trusted_peer() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", "https".parse().expect("test header"));
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            forwarded_https(ip("10.0.0.2"), &headers, &trusted),
            Some(true)
        );
        assert_eq!(
            forwarded_https(ip("198.51.100.7"), &headers, &trusted),
            None
        );
        headers.insert("x-forwarded-proto", "http".parse().expect("test header"));
        assert_eq!(
            forwarded_https(ip("10.0.0.2"), &headers, &trusted),
            Some(false)
        );
    }
}
