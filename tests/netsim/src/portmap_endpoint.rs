//! Pinhole's [`PortMapper`] on a simulated socket: datagrams, timers and its UPnP HTTP
//! streams over netsim's TCP. Datagrams that are not the mapper's (an outside peer
//! reaching the mapping) are recorded and echoed back from the mapped socket. Events are
//! recorded with their virtual time.

use crate::endpoint::{ConnId, Datagram, Endpoint, TcpCommand, TcpEvent};
use pinhole::portmap::{PortMapConfig, PortMapEvent, PortMapper, StreamId, StreamRequest};
use rand::RngCore;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// A [`PortMapper`] for the socket `config.local`; attach it with
/// `attach_on_ports(host, &[config.local.port()])` (TCP events reach it on any port).
#[derive(Debug)]
pub struct PortMapperEndpoint {
    mapper: PortMapper,
    local: SocketAddr,
    /// Every event, with the virtual time it was produced.
    pub events: Vec<(Instant, PortMapEvent)>,
    /// Datagrams from others than the gateway (each was echoed back).
    pub received: Vec<(Instant, Datagram)>,
    /// Every datagram the mapper sent, with its time (to assert schedules).
    pub sent: Vec<(Instant, Datagram)>,
    out: VecDeque<Datagram>,
    tcp_out: VecDeque<TcpCommand>,
    conns: BTreeMap<ConnId, StreamId>,
    streams: BTreeMap<StreamId, ConnId>,
}

impl PortMapperEndpoint {
    /// Starts the mapper at `now` (normally `net.now()`).
    pub fn new(now: Instant, config: PortMapConfig, rng: &mut dyn RngCore) -> Self {
        let local = config.local;
        let mapper = PortMapper::new(now, config, rng).expect("valid port-mapping config");
        let mut e = PortMapperEndpoint {
            mapper,
            local,
            events: Vec::new(),
            received: Vec::new(),
            sent: Vec::new(),
            out: VecDeque::new(),
            tcp_out: VecDeque::new(),
            conns: BTreeMap::new(),
            streams: BTreeMap::new(),
        };
        e.pump(now);
        e
    }

    pub fn mapper(&self) -> &PortMapper {
        &self.mapper
    }

    /// `PortMapper::close` at `now`; drive the sim until `mapper().is_closed()`.
    pub fn close(&mut self, now: Instant) {
        self.mapper.close(now);
        self.pump(now);
    }

    /// `PortMapper::network_changed` at `now`.
    pub fn network_changed(&mut self, now: Instant) {
        self.mapper.network_changed(now);
        self.pump(now);
    }

    /// Moves the mapper's outputs into the netsim queues.
    fn pump(&mut self, now: Instant) {
        while let Some(t) = self.mapper.poll_transmit() {
            let d = Datagram::new(t.from, t.to, t.bytes);
            self.sent.push((now, d.clone()));
            self.out.push_back(d);
        }
        while let Some(r) = self.mapper.poll_stream_request() {
            match r {
                StreamRequest::Connect { id, to } => self.tcp_out.push_back(TcpCommand::Connect {
                    token: id.0,
                    local: SocketAddr::new(self.local.ip(), 0),
                    remote: to,
                }),
                StreamRequest::Send { id, bytes } => {
                    if let Some(conn) = self.streams.get(&id) {
                        self.tcp_out.push_back(TcpCommand::Send {
                            conn: *conn,
                            data: bytes,
                        });
                    }
                }
                StreamRequest::Close { id } => {
                    if let Some(conn) = self.streams.remove(&id) {
                        self.conns.remove(&conn);
                        self.tcp_out.push_back(TcpCommand::Close { conn });
                    }
                }
            }
        }
        while let Some(e) = self.mapper.poll_event() {
            self.events.push((now, e));
        }
    }
}

impl Endpoint for PortMapperEndpoint {
    fn receive(&mut self, now: Instant, d: Datagram) {
        if d.dst.port() != self.local.port() {
            return;
        }
        if !self.mapper.handle_datagram(now, d.src, &d.payload) {
            self.out
                .push_back(Datagram::new(self.local, d.src, d.payload.clone()));
            self.received.push((now, d));
        }
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.mapper.handle_timeout(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.mapper.poll_timeout()
    }

    fn tcp_event(&mut self, now: Instant, ev: TcpEvent) {
        match ev {
            TcpEvent::Connected { token, conn, .. } => {
                let id = StreamId(token);
                self.conns.insert(conn, id);
                self.streams.insert(id, conn);
                self.mapper.handle_stream_connected(now, id);
            }
            TcpEvent::ConnectFailed { token, .. } => {
                self.mapper.handle_stream_closed(now, StreamId(token))
            }
            TcpEvent::Data { conn, data } => {
                if let Some(id) = self.conns.get(&conn) {
                    self.mapper.handle_stream_data(now, *id, &data);
                }
            }
            TcpEvent::Closed { conn } => {
                if let Some(id) = self.conns.remove(&conn) {
                    self.streams.remove(&id);
                    self.mapper.handle_stream_closed(now, id);
                }
            }
            TcpEvent::Accepted { .. } => {}
        }
        self.pump(now);
    }

    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.tcp_out.pop_front()
    }
}
