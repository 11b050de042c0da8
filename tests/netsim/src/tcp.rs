//! A minimal TCP byte-stream model: connect/accept, ordered reliable bytes,
//! close and reset, through NATs and firewalls.
//!
//! Not modelled: sequence numbers, windows, congestion control, retransmission
//! (segments are never lost, duplicated or reordered, and ignore MTU), MSS
//! segmentation (one `Send` is one segment and one `Data` event), half-close,
//! TIME_WAIT, simultaneous open. A SYN that is dropped (firewall, no NAT
//! mapping) makes `connect` fail after `Sim::tcp_connect_timeout`.

use crate::endpoint::{ConnId, HostId, TcpCommand, TcpEvent};
use crate::forward::Dir;
use crate::net::{TcpConn, TcpState};
use crate::packet::{Body, Packet, TcpKind};
use crate::sim::{Event, Sim};
use std::net::SocketAddr;

impl Sim {
    fn tcp_notify(&mut self, h: HostId, slot: usize, ev: TcpEvent) {
        let now = self.clock.now();
        self.hosts[h.0].slots[slot].ep.tcp_event(now, ev);
        self.drain(h, slot);
    }

    fn tcp_segment(
        &mut self,
        h: HostId,
        local: SocketAddr,
        remote: SocketAddr,
        kind: TcpKind,
        data: Vec<u8>,
    ) {
        let Some((link, _)) = self.source_iface(h, local.ip()) else {
            self.hosts[h.0].stats.dropped_bad_source += 1;
            return;
        };
        let pkt = self.new_packet(local, remote, Body::Tcp { kind, data });
        self.transmit(link, Dir::Up, pkt);
    }

    fn ephemeral_port(&mut self, h: HostId) -> u16 {
        let host = &mut self.hosts[h.0];
        let p = host.next_ephemeral;
        host.next_ephemeral = if p == 65535 { 49152 } else { p + 1 };
        p
    }

    pub(crate) fn tcp_command(&mut self, h: HostId, slot: usize, cmd: TcpCommand) {
        match cmd {
            TcpCommand::Listen { port } => {
                self.hosts[h.0].listeners.insert(port, slot);
            }
            TcpCommand::Connect {
                token,
                local,
                remote,
            } => {
                let Some((_, ip)) = self.source_iface(h, local.ip()) else {
                    let reason = format!("no usable local address for {local}");
                    return self.tcp_notify(h, slot, TcpEvent::ConnectFailed { token, reason });
                };
                let port = if local.port() == 0 {
                    self.ephemeral_port(h)
                } else {
                    local.port()
                };
                let local = SocketAddr::new(ip, port);
                let id = ConnId(self.next_conn);
                self.next_conn += 1;
                self.conns.insert(
                    id,
                    TcpConn {
                        host: h,
                        slot,
                        local,
                        remote,
                        state: TcpState::Connecting { token },
                    },
                );
                self.hosts[h.0].conns.insert((local, remote), id);
                self.tcp_segment(h, local, remote, TcpKind::Syn, Vec::new());
                let at = self.clock.elapsed() + self.tcp_connect_timeout;
                self.schedule_event(at, Event::TcpConnectTimeout(id));
            }
            TcpCommand::Send { conn, data } => {
                if let Some(c) = self.conns.get(&conn).filter(|c| c.host == h) {
                    if c.state == TcpState::Established {
                        let (l, r) = (c.local, c.remote);
                        self.tcp_segment(h, l, r, TcpKind::Data, data);
                    }
                }
            }
            TcpCommand::Close { conn } => {
                if let Some(c) = self.conns.get(&conn).filter(|c| c.host == h).cloned() {
                    self.conns.remove(&conn);
                    self.hosts[h.0].conns.remove(&(c.local, c.remote));
                    self.tcp_segment(h, c.local, c.remote, TcpKind::Fin, Vec::new());
                }
            }
        }
    }

    pub(crate) fn tcp_connect_timeout(&mut self, id: ConnId) {
        let Some(c) = self.conns.get(&id).cloned() else {
            return;
        };
        if let TcpState::Connecting { token } = c.state {
            self.conns.remove(&id);
            self.hosts[c.host.0].conns.remove(&(c.local, c.remote));
            let reason = format!("connect to {} timed out", c.remote);
            self.tcp_notify(c.host, c.slot, TcpEvent::ConnectFailed { token, reason });
        }
    }

    pub(crate) fn tcp_receive(&mut self, h: HostId, pkt: Packet) {
        let Body::Tcp { kind, data } = pkt.body else {
            return;
        };
        let (local, remote) = (pkt.dst, pkt.src);
        let existing = self.hosts[h.0].conns.get(&(local, remote)).copied();
        match (kind, existing) {
            (TcpKind::Syn, Some(_)) => {}
            (TcpKind::Syn, None) => {
                let Some(&slot) = self.hosts[h.0].listeners.get(&local.port()) else {
                    return self.tcp_segment(h, local, remote, TcpKind::Rst, Vec::new());
                };
                let id = ConnId(self.next_conn);
                self.next_conn += 1;
                self.conns.insert(
                    id,
                    TcpConn {
                        host: h,
                        slot,
                        local,
                        remote,
                        state: TcpState::Established,
                    },
                );
                self.hosts[h.0].conns.insert((local, remote), id);
                self.tcp_segment(h, local, remote, TcpKind::SynAck, Vec::new());
                self.tcp_notify(
                    h,
                    slot,
                    TcpEvent::Accepted {
                        conn: id,
                        local,
                        remote,
                    },
                );
            }
            (_, None) => {
                if kind != TcpKind::Rst {
                    self.tcp_segment(h, local, remote, TcpKind::Rst, Vec::new());
                }
            }
            (TcpKind::SynAck, Some(id)) => {
                let c = self.conns.get_mut(&id).expect("conn");
                if let TcpState::Connecting { token } = c.state {
                    c.state = TcpState::Established;
                    let slot = c.slot;
                    self.tcp_notify(
                        h,
                        slot,
                        TcpEvent::Connected {
                            token,
                            conn: id,
                            local,
                            remote,
                        },
                    );
                }
            }
            (TcpKind::Data, Some(id)) => {
                let slot = self.conns[&id].slot;
                self.tcp_notify(h, slot, TcpEvent::Data { conn: id, data });
            }
            (TcpKind::Fin | TcpKind::Rst, Some(id)) => {
                let c = self.conns.remove(&id).expect("conn");
                self.hosts[h.0].conns.remove(&(local, remote));
                let ev = match c.state {
                    TcpState::Connecting { token } => TcpEvent::ConnectFailed {
                        token,
                        reason: format!("connection to {remote} refused"),
                    },
                    TcpState::Established => TcpEvent::Closed { conn: id },
                };
                self.tcp_notify(h, c.slot, ev);
            }
        }
    }
}
