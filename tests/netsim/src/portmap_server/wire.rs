//! NAT-PMP (RFC 6886) and PCP (RFC 6887) on the server side: request parsing and answers.

use super::{Pending, PortMapServer};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// NAT-PMP and PCP server port.
pub(crate) const PORT: u16 = 5351;

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

fn unmap(b: &[u8]) -> IpAddr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[..16]);
    let a = Ipv6Addr::from(o);
    a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4)
}

/// An unsolicited PCP ANNOUNCE response with `epoch`.
pub(crate) fn pcp_announce(epoch: u32) -> Vec<u8> {
    let mut b = vec![2, 0x80, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&[0; 12]);
    b
}

impl PortMapServer {
    /// Anything arriving on port 5351: NAT-PMP (version 0) or PCP (version 2).
    pub(crate) fn handle_pcp_port(&mut self, now: Instant, from: SocketAddr, b: &[u8]) {
        if b.len() < 2 {
            return;
        }
        let epoch = self.epoch(now);
        match b[0] {
            0 if self.cfg.natpmp => self.natpmp(now, from, b, epoch),
            2 if self.cfg.pcp => self.pcp(now, from, b, epoch),
            // A NAT-PMP-only gateway answers other versions with UNSUPP_VERSION in NAT-PMP
            // format (RFC 6887 §9); a gateway with neither stays silent.
            v if self.cfg.natpmp && v != 0 => {
                self.note(now, "pcp", "unsupported-version", None);
                let mut r = vec![0, 128u8.wrapping_add(b[1] & 0x7f), 0, 1];
                r.extend_from_slice(&epoch.to_be_bytes());
                self.send(PORT, from, r);
            }
            _ => {}
        }
    }

    fn natpmp(&mut self, now: Instant, from: SocketAddr, b: &[u8], epoch: u32) {
        match b[1] {
            0 => {
                self.note(now, "nat-pmp", "external", None);
                let mut r = vec![0, 128, 0, 0];
                r.extend_from_slice(&epoch.to_be_bytes());
                match self.cfg.advertised() {
                    IpAddr::V4(a) => r.extend_from_slice(&a.octets()),
                    IpAddr::V6(_) => r.extend_from_slice(&[0; 4]),
                }
                self.send(PORT, from, r);
            }
            1 if b.len() >= 12 => {
                let internal_port = u16::from_be_bytes([b[4], b[5]]);
                let suggested = u16::from_be_bytes([b[6], b[7]]);
                let lifetime = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
                let internal = SocketAddr::new(from.ip(), internal_port);
                if lifetime == 0 {
                    self.note(now, "nat-pmp", "delete", Some(0));
                    self.unmap_internal(internal);
                    let mut r = vec![0, 129, 0, 0];
                    r.extend_from_slice(&epoch.to_be_bytes());
                    r.extend_from_slice(&internal_port.to_be_bytes());
                    r.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
                    self.send(PORT, from, r);
                    return;
                }
                self.note(now, "nat-pmp", "map", Some(lifetime));
                let granted = self.grant(lifetime);
                self.request_map(
                    internal,
                    suggested,
                    false,
                    Duration::from_secs(u64::from(granted)),
                    Pending::NatPmp {
                        client: from,
                        internal_port,
                        lifetime: granted,
                    },
                );
            }
            op => {
                // Unsupported opcode (5).
                let mut r = vec![0, 128u8.wrapping_add(op), 0, 5];
                r.extend_from_slice(&epoch.to_be_bytes());
                self.send(PORT, from, r);
            }
        }
    }

    fn pcp(&mut self, now: Instant, from: SocketAddr, b: &[u8], epoch: u32) {
        if b.len() < 24 || b[1] & 0x80 != 0 {
            return;
        }
        let opcode = b[1] & 0x7f;
        let lifetime = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        let client_ip = unmap(&b[8..24]);
        if opcode != 1 || b.len() < 60 {
            self.note(now, "pcp", "other", None);
            let r = pcp_answer(b, 4, 0, epoch, None); // UNSUPP_OPCODE
            self.send(PORT, from, r);
            return;
        }
        if client_ip != from.ip() {
            self.note(now, "pcp", "address-mismatch", Some(lifetime));
            let r = pcp_answer(b, 12, 0, epoch, None);
            self.send(PORT, from, r);
            return;
        }
        let internal_port = u16::from_be_bytes([b[40], b[41]]);
        let suggested = u16::from_be_bytes([b[42], b[43]]);
        let internal = SocketAddr::new(from.ip(), internal_port);
        if lifetime == 0 {
            self.note(now, "pcp", "delete", Some(0));
            self.unmap_internal(internal);
            let ext = SocketAddr::new(self.cfg.advertised(), 0);
            let r = self.hostile_nonce(pcp_answer(b, 0, 0, epoch, Some(ext)));
            self.send(PORT, from, r);
            return;
        }
        self.note(now, "pcp", "map", Some(lifetime));
        let granted = self.grant(lifetime);
        self.request_map(
            internal,
            suggested,
            false,
            Duration::from_secs(u64::from(granted)),
            Pending::Pcp {
                client: from,
                request: b[..60].to_vec(),
                lifetime: granted,
            },
        );
    }

    fn hostile_nonce(&self, mut r: Vec<u8>) -> Vec<u8> {
        if self.cfg.hostile.wrong_nonce && r.len() >= 36 {
            r[24] ^= 0x5a;
        }
        r
    }

    /// Answers a NAT-PMP or PCP mapping request once the NAT decided.
    pub(crate) fn answer_udp_mapping(
        &mut self,
        now: Instant,
        p: Pending,
        external: Option<SocketAddr>,
    ) {
        let epoch = self.epoch(now);
        match p {
            Pending::NatPmp {
                client,
                internal_port,
                lifetime,
            } => {
                let mut r = vec![0, 129, 0, if external.is_some() { 0 } else { 4 }];
                r.extend_from_slice(&epoch.to_be_bytes());
                r.extend_from_slice(&internal_port.to_be_bytes());
                r.extend_from_slice(&external.map_or(0, |e| e.port()).to_be_bytes());
                r.extend_from_slice(&(if external.is_some() { lifetime } else { 0 }).to_be_bytes());
                self.send(PORT, client, r);
            }
            Pending::Pcp {
                client,
                request,
                lifetime,
            } => {
                let r = match external {
                    Some(e) => {
                        let ext = SocketAddr::new(self.cfg.advertised(), e.port());
                        pcp_answer(&request, 0, lifetime, epoch, Some(ext))
                    }
                    None => pcp_answer(&request, 8, 30, epoch, None), // NO_RESOURCES
                };
                let r = self.hostile_nonce(r);
                self.send(PORT, client, r);
            }
            Pending::Soap { .. } => {}
        }
    }
}

/// A PCP response to `req` (header + its MAP data, with the assigned external address).
fn pcp_answer(
    req: &[u8],
    result: u8,
    lifetime: u32,
    epoch: u32,
    ext: Option<SocketAddr>,
) -> Vec<u8> {
    let mut r = vec![2, 0x80 | (req[1] & 0x7f), 0, result];
    r.extend_from_slice(&lifetime.to_be_bytes());
    r.extend_from_slice(&epoch.to_be_bytes());
    r.extend_from_slice(&[0; 12]);
    if req.len() >= 60 {
        let mut data = req[24..60].to_vec();
        if let Some(e) = ext {
            data[18..20].copy_from_slice(&e.port().to_be_bytes());
            data[20..36].copy_from_slice(&v6(e.ip()));
        }
        r.extend_from_slice(&data);
    }
    r
}
