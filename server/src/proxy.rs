//! The client's address behind a trusted reverse proxy (`--trusted-proxies`).
//!
//! Only a TCP peer in a trusted range may say who the client is; its `X-Forwarded-For` is
//! read from the right (each proxy appends the address it saw), skipping trusted proxies,
//! and the first other address is the client's. Without the header, `Forwarded`'s `for=` is
//! read the same way. From any other peer these headers are ignored: anyone can send them.

use crate::http::Request;
use std::net::IpAddr;
use std::str::FromStr;

/// An address range, `10.0.0.0/8` or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("not an address range: {s:?} (expected e.g. 10.0.0.0/8 or ::1)");
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { net, prefix })
    }
}

impl Cidr {
    /// Whether `ip` is in this range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (bits, net, ip) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (32, u128::from(n.to_bits()), u128::from(i.to_bits()))
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (128, n.to_bits(), i.to_bits()),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (net >> shift) == (ip >> shift)
    }
}

/// Whether `peer` is in one of the trusted ranges.
pub(crate) fn is_trusted(peer: IpAddr, trusted: &[Cidr]) -> bool {
    trusted.iter().any(|c| c.contains(peer))
}

/// The client's address for a request that came from `peer`.
pub(crate) fn client_addr(peer: IpAddr, request: &Request, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| is_trusted(ip, trusted);
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded_for = request.header("X-Forwarded-For").map(|v| {
        v.split(',')
            .map(|a| a.trim().to_string())
            .collect::<Vec<_>>()
    });
    let hops = forwarded_for.or_else(|| {
        request.header("Forwarded").map(|v| {
            v.split(',')
                .flat_map(|hop| hop.split(';'))
                .filter_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.eq_ignore_ascii_case("for")
                        .then(|| v.trim_matches('"').to_string())
                })
                .collect()
        })
    });
    let parse = |hop: &str| -> Option<IpAddr> {
        // `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80`, `::1`.
        let bare = hop.strip_prefix('[').and_then(|h| h.split(']').next());
        let bare = bare.unwrap_or_else(|| match hop.rsplit_once(':') {
            Some((a, port)) if !a.contains(':') && port.parse::<u16>().is_ok() => a,
            _ => hop,
        });
        bare.parse().ok()
    };
    hops.into_iter()
        .flatten()
        .rev()
        .map_while(|hop| parse(&hop))
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Request::default()
        }
    }

    #[test]
    fn ranges() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "x/8", "10.0.0/8"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_trusted_peers_say_who_the_client_is() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let xff = request(&[("X-Forwarded-For", "198.51.100.1, 192.0.2.7, 10.0.0.9")]);
        assert_eq!(
            client_addr(proxy, &xff, &trusted),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_addr(stranger, &xff, &trusted),
            stranger,
            "not from a proxy"
        );
        assert_eq!(client_addr(proxy, &xff, &[]), proxy, "no proxies trusted");
        let fwd = request(&[(
            "Forwarded",
            "for=192.0.2.60;proto=http, for=\"[2001:db8::1]:4711\"",
        )]);
        assert_eq!(
            client_addr(proxy, &fwd, &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let junk = request(&[("X-Forwarded-For", "unknown")]);
        assert_eq!(client_addr(proxy, &junk, &trusted), proxy);
    }
}
