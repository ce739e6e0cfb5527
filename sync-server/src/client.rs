//! The client's address, for rate limits and the audit log: the peer address, or behind a
//! trusted reverse proxy the address the proxy forwards.
//!
//! A request whose peer is in `trusted_proxies` (config `trusted_proxies`, environment
//! `SYNC_TRUSTED_PROXIES`: addresses or CIDR ranges) is read from `Forwarded: for=...` (RFC 7239)
//! or else `X-Forwarded-For`, from the right: the first address that is not itself a trusted
//! proxy is the client. A peer that is not trusted is the client, whatever it claims, so no one
//! can pick their own address by sending the header.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The client address of a request (set by [`client_address`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The proxies whose forwarded addresses are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Arc<Vec<IpNet>>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_for(headers);
        chain
            .iter()
            .rev()
            .copied()
            .find(|ip| !self.trusts(*ip))
            // Every hop is a trusted proxy: the farthest one is as close to the client as known.
            .or_else(|| chain.first().copied())
            .unwrap_or(peer)
    }
}

/// Parses a list of addresses or CIDR ranges ("10.0.0.0/8, 127.0.0.1").
pub fn parse_trusted(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an address or CIDR range"))
        })
        .collect()
}

/// The addresses a request passed through, client first: `Forwarded`'s `for=` values, or else
/// `X-Forwarded-For`. Unreadable entries end the chain there (what is left of them is not
/// believed).
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let forwarded: Vec<String> = values("forwarded")
        .into_iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().to_owned())
            })
        })
        .collect();
    let entries = if forwarded.is_empty() {
        values("x-forwarded-for")
    } else {
        forwarded
    };
    let mut chain = Vec::new();
    for entry in entries {
        match parse_node(&entry) {
            Some(ip) => chain.push(ip),
            None => chain.clear(),
        }
    }
    chain
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

/// Middleware: puts the request's [`ClientAddr`] in its extensions.
pub async fn client_address(
    State(trusted): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = trusted.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_is_believed_and_the_chain_is_read_from_the_right() {
        let trusted = TrustedProxies(Arc::new(parse_trusted("127.0.0.1, 10.0.0.0/8").unwrap()));
        let spoofed = headers(&[("x-forwarded-for", "6.6.6.6")]);
        assert_eq!(
            trusted.client(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
        assert_eq!(trusted.client(ip("127.0.0.1"), &spoofed), ip("6.6.6.6"));
        // A client that sends its own header: the proxy appends the real address; the rightmost
        // untrusted one wins.
        let appended = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.2.3")]);
        assert_eq!(
            trusted.client(ip("127.0.0.1"), &appended),
            ip("198.51.100.7")
        );
        let forwarded = headers(&[
            (
                "forwarded",
                r#"for=192.0.2.60;proto=https, for="[2001:db8::1]:4711""#,
            ),
            ("x-forwarded-for", "6.6.6.6"),
        ]);
        assert_eq!(
            trusted.client(ip("10.0.0.2"), &forwarded),
            ip("2001:db8::1")
        );
        assert_eq!(
            trusted.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        let garbage = headers(&[("x-forwarded-for", "not-an-ip, 198.51.100.7")]);
        assert_eq!(
            trusted.client(ip("127.0.0.1"), &garbage),
            ip("198.51.100.7")
        );
        assert!(parse_trusted("10.0.0.0/8, nonsense").is_err());
        assert_eq!(parse_trusted(" ").unwrap(), Vec::<IpNet>::new());
    }
}
