//! Connections in the HTTP phase: at most `--max-handshakes` in all, and at most
//! `--max-connections-per-ip` from one peer address; beyond either, a new connection is
//! closed at once.
//!
//! A socket that sends its request one byte at a time holds a place for the whole 10 s
//! handshake limit. Without a cap per address, one host that reopens every socket the server
//! closes (a slow-loris attack) keeps every place taken and nobody else gets in. The peer
//! address is all there is before the request is read, so a trusted proxy (which speaks for
//! many clients) counts in the total only.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug)]
pub(crate) struct Handshakes {
    max: usize,
    /// 0: no limit per address.
    per_address: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: BTreeMap<IpAddr, usize>,
}

/// Why a connection was closed before its request was read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Full {
    /// `--max-handshakes` connections are in the HTTP phase.
    All,
    /// Its address has `--max-connections-per-ip` of them.
    Address,
}

/// A place in the HTTP phase, given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    handshakes: Arc<Handshakes>,
    /// The address it counts against, unless exempt.
    address: Option<IpAddr>,
}

impl Handshakes {
    pub(crate) fn new(max: usize, per_address: usize) -> Self {
        Handshakes {
            max,
            per_address,
            counts: Mutex::new(Counts::default()),
        }
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a place for a connection from `peer`; `exempt` peers (trusted proxies) count
    /// in the total only.
    pub(crate) fn enter(self: &Arc<Self>, peer: IpAddr, exempt: bool) -> Result<Place, Full> {
        let mut counts = self.counts();
        if counts.total >= self.max {
            return Err(Full::All);
        }
        let address = (!exempt && self.per_address > 0).then_some(peer);
        if let Some(peer) = address {
            let n = counts.by_address.entry(peer).or_insert(0);
            if *n >= self.per_address {
                return Err(Full::Address);
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(Place {
            handshakes: self.clone(),
            address,
        })
    }

    /// Connections in the HTTP phase now.
    pub(crate) fn count(&self) -> usize {
        self.counts().total
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.handshakes.counts();
        counts.total -= 1;
        if let Some(peer) = self.address {
            if let Some(n) = counts.by_address.get_mut(&peer) {
                *n -= 1;
                if *n == 0 {
                    counts.by_address.remove(&peer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn one_address_cannot_take_every_place() {
        let h = Arc::new(Handshakes::new(4, 2));
        let a1 = h.enter(ip(1), false).unwrap();
        let _a2 = h.enter(ip(1), false).unwrap();
        assert_eq!(h.enter(ip(1), false).err(), Some(Full::Address));
        let _b = h.enter(ip(2), false).unwrap();
        let _proxy = h.enter(ip(3), true).unwrap();
        assert_eq!(h.enter(ip(4), false).err(), Some(Full::All));
        drop(a1);
        assert_eq!(h.count(), 3);
        let _a3 = h
            .enter(ip(1), false)
            .expect("a place given back is free again");
    }

    #[test]
    fn a_trusted_proxy_counts_in_the_total_only() {
        let h = Arc::new(Handshakes::new(10, 1));
        let _proxied: Vec<_> = (0..5).map(|_| h.enter(ip(9), true).unwrap()).collect();
        assert_eq!(h.count(), 5);
        assert!(h.counts().by_address.is_empty());
    }

    #[test]
    fn places_given_back_leave_nothing_behind() {
        let h = Arc::new(Handshakes::new(10, 3));
        let places: Vec<_> = (0..9).map(|i| h.enter(ip(i % 3), false).unwrap()).collect();
        assert_eq!(h.enter(ip(0), false).err(), Some(Full::Address));
        drop(places);
        let counts = h.counts();
        assert_eq!((counts.total, counts.by_address.len()), (0, 0));
    }

    #[test]
    fn no_limit_per_address_with_zero() {
        let h = Arc::new(Handshakes::new(100, 0));
        let _places: Vec<_> = (0..100).map(|_| h.enter(ip(1), false).unwrap()).collect();
        assert_eq!(h.enter(ip(1), false).err(), Some(Full::All));
    }
}
