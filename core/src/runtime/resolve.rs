use std::net::SocketAddr;
use std::time::Duration;

use super::RuntimeError;

/// Resolves `HOST:PORT` (a literal address needs no DNS), preferring IPv4 where both exist
/// because the common STUN deployment is IPv4-first. Bounded by `limit`.
pub async fn resolve_udp(host_port: &str, limit: Duration) -> Result<SocketAddr, RuntimeError> {
    if let Ok(addr) = host_port.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let err = |reason: String| RuntimeError::Resolve {
        host: host_port.to_string(),
        reason,
    };
    if !host_port.contains(':') {
        return Err(err(
            "expected HOST:PORT, for example stun.example.org:3478".into()
        ));
    }
    let addrs: Vec<SocketAddr> = tokio::time::timeout(limit, tokio::net::lookup_host(host_port))
        .await
        .map_err(|_| err(format!("DNS did not answer within {limit:?}")))?
        .map_err(|e| err(e.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| err("DNS returned no addresses".into()))
}
