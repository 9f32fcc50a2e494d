//! Who the client is, for the limits on public endpoints: the peer of the connection, or,
//! when that peer is a proxy the operator trusts (`--trusted-proxies`), the address it says
//! it forwards for (`X-Forwarded-For`). Without that, every client behind a load balancer
//! would share the balancer's address, and one of them could lock all the others out.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use poem::{Endpoint, Request, Response};

/// The networks whose connections are proxies that set `X-Forwarded-For`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies at these networks.
    #[must_use]
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trust(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client of a request from `peer` carrying `forwarded_for` (the `X-Forwarded-For`
    /// values, in order): the nearest address before the trusted proxies, each of which
    /// appended the address it received the request from. An address a client wrote itself
    /// stands left of those and is never taken while a proxy's own is there.
    /// Addresses are compared in their canonical form (an IPv4 peer of a dual-stack listener,
    /// `::ffff:10.0.0.1`, is `10.0.0.1`); a hop may carry a port (`10.0.0.1:443`,
    /// `[2001:db8::1]:443`).
    #[must_use]
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: &[&str]) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.trust(peer) {
            return Some(peer);
        }
        let mut client = peer;
        let hops = forwarded_for.iter().flat_map(|value| value.split(',')).map(str::trim).rev();
        for hop in hops {
            let Some(address) = hop_address(hop) else { break };
            client = address;
            if !self.trust(address) {
                break;
            }
        }
        Some(client)
    }
}

/// The address of one `X-Forwarded-For` hop, with or without a port, canonical.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let address = hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))?;
    Some(address.to_canonical())
}

/// The client's address as [`TrustedProxies::client`] sees it, in every request's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

/// Puts the [`ClientAddress`] of each request in its data.
pub async fn client_address<E: Endpoint>(
    next: E,
    mut req: Request,
    trusted: Arc<TrustedProxies>,
) -> poem::Result<Response> {
    let peer = req.remote_addr().as_socket_addr().map(std::net::SocketAddr::ip);
    let forwarded: Vec<&str> =
        req.headers().get_all("x-forwarded-for").iter().filter_map(|value| value.to_str().ok()).collect();
    let client = ClientAddress(trusted.client(peer, &forwarded));
    req.set_data(client);
    next.call(req).await.map(poem::IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusting(networks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(networks.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies = trusting(&["10.0.0.0/8"]);
        assert_eq!(proxies.client(ip("203.0.113.9"), &["198.51.100.1"]), ip("203.0.113.9"));
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.2"), &["198.51.100.1"]), ip("10.0.0.2"));
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_nearest_untrusted_hop() {
        let proxies = trusting(&["10.0.0.0/8", "192.168.1.1/32"]);
        // The client forged the first value; the proxies appended what they saw.
        let header = ["6.6.6.6, 198.51.100.7", "10.1.2.3"];
        assert_eq!(proxies.client(ip("192.168.1.1"), &header), ip("198.51.100.7"));
        assert_eq!(proxies.client(ip("10.0.0.1"), &[]), ip("10.0.0.1"), "no header: the proxy itself");
        assert_eq!(proxies.client(ip("10.0.0.1"), &["10.0.0.5"]), ip("10.0.0.5"), "only proxies: the farthest");
        assert_eq!(proxies.client(ip("10.0.0.1"), &["garbage, 10.0.0.5"]), ip("10.0.0.5"));
        assert_eq!(proxies.client(ip("10.0.0.1"), &["2001:db8::1"]), ip("2001:db8::1"));
        assert_eq!(proxies.client(None, &["198.51.100.7"]), None);
    }

    #[test]
    fn a_dual_stack_peer_and_hops_with_ports_are_read_canonically() {
        let proxies = trusting(&["10.0.0.1/32", "10.0.0.2/32"]);
        assert_eq!(proxies.client(ip("::ffff:10.0.0.1"), &["198.51.100.7"]), ip("198.51.100.7"));
        assert_eq!(proxies.client(ip("10.0.0.1"), &["198.51.100.7:5678, 10.0.0.2:443"]), ip("198.51.100.7"));
        assert_eq!(proxies.client(ip("10.0.0.1"), &["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(proxies.client(ip("10.0.0.1"), &["::ffff:198.51.100.7"]), ip("198.51.100.7"));
    }
}
