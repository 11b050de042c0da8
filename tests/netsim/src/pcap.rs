//! Writing captured packets as a pcap file (LINKTYPE_RAW, nanosecond timestamps)
//! with synthesized IPv4/IPv6 and UDP/TCP headers, so Wireshark can open a run.
//! TCP headers carry flags only (sequence numbers are zero: TCP is not modelled).

use crate::packet::{Body, Packet, TcpKind};
use crate::trace::Captured;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

const MAGIC_NS: u32 = 0xa1b2_3c4d;
const LINKTYPE_RAW: u32 = 101;

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    for ch in data.chunks(2) {
        let w = if ch.len() == 2 {
            u16::from_be_bytes([ch[0], ch[1]])
        } else {
            u16::from_be_bytes([ch[0], 0])
        };
        acc += w as u32;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn ip_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

fn transport(p: &Packet) -> (u8, Vec<u8>) {
    let (sp, dp) = (p.src.port(), p.dst.port());
    match &p.body {
        Body::Udp(payload) => {
            let mut h = Vec::with_capacity(8 + payload.len());
            h.extend_from_slice(&sp.to_be_bytes());
            h.extend_from_slice(&dp.to_be_bytes());
            h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            h.extend_from_slice(&[0, 0]);
            h.extend_from_slice(payload);
            (17, h)
        }
        Body::Tcp { kind, data } => {
            let flags: u8 = match kind {
                TcpKind::Syn => 0x02,
                TcpKind::SynAck => 0x12,
                TcpKind::Data => 0x18,
                TcpKind::Fin => 0x11,
                TcpKind::Rst => 0x04,
            };
            let mut h = Vec::with_capacity(20 + data.len());
            h.extend_from_slice(&sp.to_be_bytes());
            h.extend_from_slice(&dp.to_be_bytes());
            h.extend_from_slice(&[0; 8]); // seq, ack
            h.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
            h.extend_from_slice(data);
            (6, h)
        }
    }
}

fn checksum_offset(proto: u8) -> usize {
    if proto == 17 {
        6
    } else {
        16
    }
}

/// One packet as raw IP bytes.
pub fn ip_packet(p: &Packet) -> Vec<u8> {
    let (proto, mut l4) = transport(p);
    let (src, dst): (SocketAddr, SocketAddr) = (p.src, p.dst);
    let pseudo_len = l4.len() as u32;
    let mut acc = sum16(&ip_bytes(src.ip()), 0);
    acc = sum16(&ip_bytes(dst.ip()), acc);
    acc += proto as u32 + pseudo_len;
    let mut ck = fold(sum16(&l4, acc));
    if ck == 0 && proto == 17 {
        ck = 0xffff;
    }
    let off = checksum_offset(proto);
    l4[off..off + 2].copy_from_slice(&ck.to_be_bytes());
    let mut out = Vec::with_capacity(40 + l4.len());
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + l4.len()) as u16;
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&(p.id as u16).to_be_bytes());
            out.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            let hck = fold(sum16(&out, 0));
            out[10..12].copy_from_slice(&hck.to_be_bytes());
        }
        (s, d) => {
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            out.extend_from_slice(&[proto, 64]);
            out.extend_from_slice(&ip_bytes(s));
            out.extend_from_slice(&ip_bytes(d));
        }
    }
    out.extend_from_slice(&l4);
    out
}

/// Writes captured packets as a pcap stream.
pub fn write_pcap<W: Write>(mut w: W, packets: &[Captured]) -> io::Result<()> {
    w.write_all(&MAGIC_NS.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&0i32.to_le_bytes())?;
    w.write_all(&0u32.to_le_bytes())?;
    w.write_all(&65535u32.to_le_bytes())?;
    w.write_all(&LINKTYPE_RAW.to_le_bytes())?;
    for c in packets {
        let bytes = ip_packet(&c.packet);
        w.write_all(&(c.at.as_secs() as u32).to_le_bytes())?;
        w.write_all(&c.at.subsec_nanos().to_le_bytes())?;
        w.write_all(&(bytes.len() as u32).to_le_bytes())?;
        w.write_all(&(bytes.len() as u32).to_le_bytes())?;
        w.write_all(&bytes)?;
    }
    Ok(())
}
