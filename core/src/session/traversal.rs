//! The session's side of NAT traversal beyond ICE's checks: the gateway for port mapping,
//! NAT discovery and its signaling, the hard-NAT punch's sockets, and closing only once
//! the mappings are deleted (see [`super::portmap`] and [`super::nat`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::events::Event;
use super::portmap::PortMapState;
use super::signal::Signal;
use super::Session;

impl Session {
    /// The default gateway changed (or became known).
    pub(super) fn set_gateway(&mut self, now: Instant, gateway: Option<IpAddr>) {
        let sockets: Vec<SocketAddr> = if self.started {
            self.sockets.all().to_vec()
        } else {
            Vec::new()
        };
        for socket in self.portmaps.set_gateway(now, gateway, &sockets) {
            self.agent.remove_mapped_candidate(socket);
        }
    }

    /// A bind answer on `ip` is for the punch: one is outstanding there, and no ordinary one.
    pub(super) fn is_punch_bind(&self, ip: IpAddr) -> bool {
        self.punch_sockets.expects(ip) && !self.sockets.expects(ip)
    }

    /// An ordinary socket is gone: its mapper and discovery with it.
    pub(super) fn socket_gone(&mut self, addr: SocketAddr) {
        self.portmaps.remove_socket(addr);
        self.nat.socket_gone(addr);
    }

    /// Runs NAT discovery on the first IPv4 socket against the first IPv4 STUN server,
    /// unless it already ran on a socket still bound.
    pub(super) fn start_nat_discovery(&mut self, now: Instant) {
        let sockets = self.sockets.all();
        if self.nat.covers(sockets) {
            return;
        }
        let socket = sockets
            .iter()
            .copied()
            .find(|a| a.is_ipv4() && !a.ip().is_loopback());
        let server = self
            .agent
            .config()
            .stun_servers
            .iter()
            .copied()
            .find(|s| s.is_ipv4());
        if let (Some(socket), Some(server)) = (socket, server) {
            self.nat.start(now, socket, server);
        }
    }

    /// Moves discovery results, port-mapping events and punch socket requests along
    /// (before every poll).
    pub(super) fn process_nat(&mut self) {
        let now = self.now;
        if !self.closed {
            if let Some(b) = self.nat.take_fresh() {
                self.agent.set_local_nat(now, Some(b));
                if self.nat_signaled != Some(b) {
                    self.nat_signaled = Some(b);
                    self.events.push_back(Event::Signal(Signal::Nat(b)));
                }
            }
            while let Some((ip, n)) = self.agent.poll_punch_sockets() {
                log::debug!("session: {n} punch sockets on {ip}");
                self.punch_sockets.want(ip, n);
            }
            // Not while the keepalive probe waits for its own spare binds on that address:
            // answers are told apart by address, so the two must not be outstanding at once.
            let keepalive = &self.keepalive;
            self.punch_sockets
                .ask(|ip| !keepalive.expects(ip) && !self.sockets.expects(ip));
        }
        while let Some(addr) = self.agent.poll_punch_release() {
            self.punch_sockets.release(addr);
        }
        self.portmaps.process(now, &mut self.agent);
    }

    /// Closed, and every port mapping deleted (or given up): the pump may drop the
    /// sockets. Until then keep driving the session (transmits, streams, timeouts) after
    /// [`Session::close`].
    pub fn is_finished(&self) -> bool {
        self.closed && self.portmaps.all_closed()
    }

    /// Each mapped socket's port mapping.
    pub fn port_mappings(&self) -> Vec<PortMapState> {
        self.portmaps.states()
    }

    /// The default gateway the session maps through.
    pub fn gateway(&self) -> Option<IpAddr> {
        self.portmaps.gateway()
    }

    /// What discovery found about our NAT, once it ran.
    pub fn nat_behaviour(&self) -> Option<crate::ice::NatBehaviour> {
        self.nat.result()
    }

    /// Sockets a hard-NAT punch holds now (besides [`Session::sockets`]).
    pub fn punch_socket_count(&self) -> usize {
        self.punch_sockets.count()
    }

    /// Virtual or real time since the session was created.
    pub(super) fn since_created(&self, t: Instant) -> std::time::Duration {
        t.saturating_duration_since(self.created)
    }
}
