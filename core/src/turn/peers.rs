//! The client's permissions and channel bindings: what is installed, what is in flight,
//! when each is due for refresh, and data queued while a permission is being created.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::error::TurnError;
use super::{CHANNEL_MAX, CHANNEL_MIN};
use crate::deadline::after;

#[derive(Debug, Default)]
struct Permission {
    /// `Some` once installed: when to refresh.
    refresh_at: Option<Instant>,
    /// How long after its last install it is refreshed (see [`Peers::due_before`]).
    every: Duration,
    in_flight: bool,
    queued: VecDeque<(SocketAddr, Vec<u8>)>,
}

#[derive(Debug)]
struct Channel {
    peer: SocketAddr,
    refresh_at: Option<Instant>,
    /// How long after its last bind it is refreshed.
    every: Duration,
    in_flight: bool,
}

/// A refresh that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    Permission(IpAddr),
    Channel { channel: u16, peer: SocketAddr },
}

#[derive(Debug, Default)]
pub(crate) struct Peers {
    permissions: BTreeMap<IpAddr, Permission>,
    channels: BTreeMap<u16, Channel>,
    by_peer: BTreeMap<SocketAddr, u16>,
}

impl Peers {
    /// Records a wanted permission; true if it is new (a request must go out).
    pub(crate) fn add_permission(&mut self, ip: IpAddr) -> bool {
        if self.permissions.contains_key(&ip) {
            return false;
        }
        self.permissions.insert(
            ip,
            Permission {
                in_flight: true,
                ..Permission::default()
            },
        );
        true
    }

    pub(crate) fn has_permission(&self, ip: IpAddr) -> bool {
        self.permissions.contains_key(&ip)
    }

    pub(crate) fn permission_installed(&self, ip: IpAddr) -> bool {
        self.permissions
            .get(&ip)
            .is_some_and(|p| p.refresh_at.is_some())
    }

    /// Queues data until the permission is installed; false if the queue is full.
    pub(crate) fn enqueue(&mut self, peer: SocketAddr, bytes: &[u8], max: usize) -> bool {
        let Some(p) = self.permissions.get_mut(&peer.ip()) else {
            return false;
        };
        if p.queued.len() >= max {
            return false;
        }
        p.queued.push_back((peer, bytes.to_vec()));
        true
    }

    /// A CreatePermission succeeded at `now`; it is refreshed `every` later. Returns
    /// whether this was the first install and the data queued meanwhile.
    pub(crate) fn permission_installed_at(
        &mut self,
        ip: IpAddr,
        now: Instant,
        every: Duration,
    ) -> (bool, VecDeque<(SocketAddr, Vec<u8>)>) {
        let Some(p) = self.permissions.get_mut(&ip) else {
            return (false, VecDeque::new());
        };
        let first = p.refresh_at.is_none();
        p.refresh_at = Some(after(now, every));
        p.every = every;
        p.in_flight = false;
        (first, std::mem::take(&mut p.queued))
    }

    pub(crate) fn remove_permission(&mut self, ip: IpAddr) -> bool {
        self.permissions.remove(&ip).is_some()
    }

    /// The channel for `peer`, allocating the lowest free number if there is none yet.
    /// The flag is true if it is new (a ChannelBind must go out).
    pub(crate) fn add_channel(&mut self, peer: SocketAddr) -> Result<(u16, bool), TurnError> {
        if let Some(&c) = self.by_peer.get(&peer) {
            return Ok((c, false));
        }
        let channel = (CHANNEL_MIN..=CHANNEL_MAX)
            .find(|c| !self.channels.contains_key(c))
            .ok_or(TurnError::ChannelsExhausted)?;
        self.channels.insert(
            channel,
            Channel {
                peer,
                refresh_at: None,
                every: Duration::ZERO,
                in_flight: true,
            },
        );
        self.by_peer.insert(peer, channel);
        Ok((channel, true))
    }

    /// The channel to send to `peer` on, once the server confirmed it.
    pub(crate) fn bound_channel(&self, peer: SocketAddr) -> Option<u16> {
        let c = *self.by_peer.get(&peer)?;
        self.channels[&c].refresh_at.map(|_| c)
    }

    /// The peer a channel number belongs to (bound or being bound).
    pub(crate) fn channel_peer(&self, channel: u16) -> Option<SocketAddr> {
        self.channels.get(&channel).map(|c| c.peer)
    }

    /// A ChannelBind succeeded at `now`; it is refreshed `every` later. True if it was
    /// the first bind.
    pub(crate) fn channel_bound_at(
        &mut self,
        channel: u16,
        peer: SocketAddr,
        now: Instant,
        every: Duration,
    ) -> bool {
        match self.channels.get_mut(&channel) {
            Some(c) if c.peer == peer => {
                let first = c.refresh_at.is_none();
                c.refresh_at = Some(after(now, every));
                c.every = every;
                c.in_flight = false;
                first
            }
            _ => false,
        }
    }

    pub(crate) fn remove_channel(&mut self, channel: u16, peer: SocketAddr) -> bool {
        match self.channels.get(&channel) {
            Some(c) if c.peer == peer => {
                self.channels.remove(&channel);
                self.by_peer.remove(&peer);
                true
            }
            _ => false,
        }
    }

    /// Makes every installed channel to `ip` due at `now` (unless one is in flight): its
    /// ChannelBind then refreshes the permission for `ip` too.
    pub(crate) fn refresh_channels_now(&mut self, ip: IpAddr, now: Instant) {
        for c in self.channels.values_mut() {
            if c.peer.ip() == ip && !c.in_flight {
                if let Some(t) = &mut c.refresh_at {
                    *t = (*t).min(now);
                }
            }
        }
    }

    /// The earliest refresh not yet in flight.
    pub(crate) fn next_refresh(&self) -> Option<Instant> {
        let p = self
            .permissions
            .values()
            .filter(|p| !p.in_flight)
            .filter_map(|p| p.refresh_at);
        let c = self
            .channels
            .values()
            .filter(|c| !c.in_flight)
            .filter_map(|c| c.refresh_at);
        p.chain(c).min()
    }

    /// Everything that falls due before `horizon` and is at least half way through its
    /// refresh period at `now`, marked in flight: refreshed early so that it rides on a
    /// radio wake-up that happens anyway (never more than twice as often as scheduled).
    pub(crate) fn due_before(&mut self, now: Instant, horizon: Instant) -> Vec<Refresh> {
        let ripe = |at: Instant, every: Duration| at <= horizon && at <= after(now, every / 2);
        let mut out = Vec::new();
        for (ip, p) in &mut self.permissions {
            if !p.in_flight && p.refresh_at.is_some_and(|t| ripe(t, p.every)) {
                p.in_flight = true;
                out.push(Refresh::Permission(*ip));
            }
        }
        for (n, c) in &mut self.channels {
            if !c.in_flight && c.refresh_at.is_some_and(|t| ripe(t, c.every)) {
                c.in_flight = true;
                out.push(Refresh::Channel {
                    channel: *n,
                    peer: c.peer,
                });
            }
        }
        out
    }

    /// Everything due at `now`, marked in flight.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Refresh> {
        let mut out = Vec::new();
        for (ip, p) in &mut self.permissions {
            if !p.in_flight && p.refresh_at.is_some_and(|t| t <= now) {
                p.in_flight = true;
                out.push(Refresh::Permission(*ip));
            }
        }
        for (n, c) in &mut self.channels {
            if !c.in_flight && c.refresh_at.is_some_and(|t| t <= now) {
                c.in_flight = true;
                out.push(Refresh::Channel {
                    channel: *n,
                    peer: c.peer,
                });
            }
        }
        out
    }
}
