//! The front door's abuse bounds in `[server]`: how client addresses are grouped into one
//! client (`client_prefix`), and how many requests one client may have in flight
//! (`max_in_flight_per_client`).

use std::net::IpAddr;

/// `server.client_prefix = { ipv4 = 32, ipv6 = 64 }`: an IPv6 client owns a whole /64 (one
/// customer line, one cloud instance), so ten addresses of one /64 are one client for the rate
/// limit, the per-client in-flight bound and the gzip budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientPrefix {
    pub ipv4: u8,
    pub ipv6: u8,
}

impl Default for ClientPrefix {
    fn default() -> Self {
        ClientPrefix { ipv4: 32, ipv6: 64 }
    }
}

impl ClientPrefix {
    /// The client `ip` belongs to: its address with the host bits cleared (an IPv4-mapped IPv6
    /// address counts as IPv4).
    pub fn block(self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => IpAddr::V4(mask_v4(v4, self.ipv4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(mask_v4(v4, self.ipv4)),
                None => {
                    let bits = u128::from(v6);
                    let mask = u128::MAX
                        .checked_shl(128 - u32::from(self.ipv6.min(128)))
                        .unwrap_or(0);
                    IpAddr::V6((bits & mask).into())
                }
            },
        }
    }
}

fn mask_v4(v4: std::net::Ipv4Addr, prefix: u8) -> std::net::Ipv4Addr {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    (u32::from(v4) & mask).into()
}

/// The default of `max_in_flight_per_client`: an eighth of `max_in_flight`, at most 64, at
/// least 1. Three slow addresses then hold at most 3/8 of the slots.
pub fn default_per_client(max_in_flight: usize) -> usize {
    (max_in_flight / 8).clamp(1, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_one_block_are_one_client() {
        let p = ClientPrefix::default();
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(p.block(a), p.block(b));
        assert_ne!(p.block(a), p.block(c));
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        assert_eq!(p.block(v4), v4);
        let p24 = ClientPrefix { ipv4: 24, ipv6: 0 };
        assert_eq!(p24.block(v4), "192.0.2.0".parse::<IpAddr>().expect("ip"));
        assert_eq!(p24.block(a), "::".parse::<IpAddr>().expect("ip"));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(
            p24.block(mapped),
            "192.0.2.0".parse::<IpAddr>().expect("ip")
        );
    }

    fn load(server: &str) -> Result<crate::config::Config, String> {
        let text = format!(
            "[server]\n{server}\n[sources.ok]\nprovider = \"github\"\nsecrets = [\"s3cret\"]\n"
        );
        crate::config::Config::from_str_with_env(
            &text,
            std::path::Path::new("/etc/hookwall/hookwall.toml"),
            &|_| None,
        )
        .map_err(|errors| errors.to_string())
    }

    #[test]
    fn client_prefix_and_the_per_client_bound_are_read_and_checked() {
        let config = load("client_prefix = { ipv4 = 24, ipv6 = 56 }\nmax_in_flight = 100\nmax_in_flight_per_client = 10")
            .expect("loads");
        assert_eq!(
            config.server.client_prefix,
            ClientPrefix { ipv4: 24, ipv6: 56 }
        );
        assert_eq!(config.server.max_in_flight_per_client, Some(10));
        let config = load("").expect("loads");
        assert_eq!(config.server.client_prefix, ClientPrefix::default());
        assert_eq!(config.server.max_in_flight_per_client, None);
        for (bad, needle) in [
            ("client_prefix = { ipv4 = 33 }", "server.client_prefix.ipv4"),
            ("client_prefix = { ipv6 = 0 }", "server.client_prefix.ipv6"),
            ("client_prefix = { ipv5 = 8 }", "ipv5"),
            (
                "max_in_flight = 10\nmax_in_flight_per_client = 11",
                "above max_in_flight",
            ),
            (
                "max_in_flight_per_client = 0",
                "server.max_in_flight_per_client",
            ),
        ] {
            let errors = load(bad).expect_err(bad);
            assert!(errors.contains(needle), "{bad}: {errors}");
        }
    }

    #[test]
    fn the_default_share_is_an_eighth_between_1_and_64() {
        assert_eq!(default_per_client(200), 25);
        assert_eq!(default_per_client(4096), 64);
        assert_eq!(default_per_client(3), 1);
    }
}
