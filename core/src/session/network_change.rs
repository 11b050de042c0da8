//! Network change: what a session does when the host moves (Wi-Fi ⇄ cellular, a new
//! address, an interface down, coming back from the background).
//!
//! | change | examples | what the session does |
//! |---|---|---|
//! | minor | an address added, an unused one removed, an IPv6 privacy rotation | sockets on new addresses (their candidates trickle to the peer), sockets of vanished unused addresses closed |
//! | major | the path's local address is gone, every address replaced, back from no network, default route or interface set changed (from the runtime's monitor) | new sockets first (make-before-break), the current generation checks the peer's candidates from them at once; if no path works within [`NetworkPolicy::recover_timeout`], ICE restart |
//! | major around a working path | the monitor reports a default route or interface change, and the path's local address is still there (a VPN came up, another network took the default route) | ICE restart at once: the path's datagrams may now leave through another gateway; data keeps the old path until the new generation selects one |
//! | resumed | `set_foreground(true)` (iOS closes a suspended app's sockets) | every socket replaced, ICE restart at once |
//!
//! Most moves need no signaling: from the new socket the agent checks candidates the
//! peer already signaled, the peer learns the new address as peer-reflexive, and the
//! side that lost its path moves data to the first pair that works (the controlling
//! side renominates; a controlled side uses it and the controlling peer follows when the
//! old pair goes quiet). The restart is the fallback when that cannot work (both NATs
//! filter, the new network needs a relay).
//!
//! Restarts never ping-pong: at most one per [`NetworkPolicy::restart_holdoff`] from
//! network change (a later change waits for it, and fires only if there is still no
//! path), and the agent ignores late copies of old credentials.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::events::SessionState;
use super::network::{NetworkHint, NetworkKind};
use super::Session;
use crate::netchange::{classify, Change, NetworkSnapshot};

/// How a session reacts to network change. `Default` gives the documented values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkPolicy {
    /// After a major change leaves no working path, how long the current generation may
    /// try to find one from the new sockets before an ICE restart (default 1 s: a few
    /// round trips, below the 2.5 s after which the peer calls the path disconnected).
    pub recover_timeout: Duration,
    /// Shortest time between two restarts caused by network change (default 2 s).
    pub restart_holdoff: Duration,
    /// Once a path has worked, a failure (consent lost and no other pair: a NAT that
    /// dropped both mappings, a peer that moved without telling) makes the session
    /// restart ICE by itself, up to this many times in a row (spaced by
    /// `restart_holdoff`; the state reads `Disconnected` meanwhile) before it reports
    /// `Failed` and leaves it to the app (default 3; 0: never).
    pub restart_on_failure: u32,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            recover_timeout: Duration::from_secs(1),
            restart_holdoff: Duration::from_secs(2),
            restart_on_failure: 3,
        }
    }
}

/// What the session knows about the host's network.
#[derive(Default)]
pub(super) struct NetworkState {
    pub(super) hint: NetworkHint,
    pub(super) snapshot: Option<NetworkSnapshot>,
    pub(super) background: bool,
    /// A major change left no path: restart unless one works by then.
    pub(super) recover_by: Option<Instant>,
    /// A restart waiting for the sockets or the holdoff.
    pub(super) restart_at: Option<Instant>,
    /// Fire `restart_at` even with a working path (resumed from the background).
    pub(super) restart_forced: bool,
    pub(super) last_restart: Option<Instant>,
    /// Restarts after failures since the last time a path worked.
    pub(super) failure_restarts: u32,
    /// A path has worked at least once (only then does a failure restart by itself).
    pub(super) was_connected: bool,
    /// No usable address last time (offline).
    pub(super) offline: bool,
    pub(super) majors: u64,
    pub(super) minors: u64,
}

/// Why a change is major (for the log).
#[derive(Clone, Copy, Debug)]
pub(super) enum Major {
    PathLost,
    Online,
    Resumed,
    Snapshot,
}

impl Session {
    /// The host says the network changed (the mobile glue's callback, or the runtime's
    /// own monitor). The pump also reports the new addresses
    /// ([`Input::LocalAddresses`](super::Input::LocalAddresses) or
    /// [`Input::Network`](super::Input::Network)); the hint sets the network cost of new
    /// sockets' candidates (Wi-Fi preferred to cellular).
    pub fn network_changed(&mut self, now: Instant, hint: NetworkHint) {
        self.now = now;
        if self.closed {
            return;
        }
        log::debug!("session: network changed: {hint:?}");
        let was_none = self.network.hint.kind == NetworkKind::None;
        self.network.hint = hint;
        self.keepalive_network(now);
        if was_none && hint.kind != NetworkKind::None {
            self.major(now, Major::Online);
        }
    }

    /// The application went to the background (`false`) or came back (`true`). In the
    /// background nothing is sent but TURN refreshes (no consent checks, no keepalives: a
    /// suspended app must not wake the radio). Coming back is a major change: every
    /// socket is replaced (iOS closes a suspended app's sockets) and ICE restarts.
    pub fn set_foreground(&mut self, now: Instant, foreground: bool) {
        self.now = now;
        if self.closed || self.network.background != foreground {
            return;
        }
        self.network.background = !foreground;
        self.agent.set_background(now, !foreground);
        if !foreground {
            self.keepalive_background();
        }
        if foreground {
            self.sockets.replace_all(self.config.port);
            self.major(now, Major::Resumed);
        }
    }

    /// Whether the session is in the background.
    pub fn is_background(&self) -> bool {
        self.network.background
    }

    /// After the socket set changed (`removed`: sockets were closed): was it major?
    pub(super) fn after_socket_change(&mut self, now: Instant, had_path: bool, removed: bool) {
        let offline = self.sockets.all().is_empty() && !self.sockets.binding();
        let was_offline = std::mem::replace(&mut self.network.offline, offline);
        if offline {
            return;
        }
        if was_offline {
            // Back from no network; a session that had connected looks for its peer again.
            if self.path.is_some() {
                self.major(now, Major::Online);
            }
        } else if had_path && self.agent.selected_pair().is_none() {
            self.major(now, Major::PathLost);
        } else if removed {
            self.network.minors += 1;
        }
    }

    /// A snapshot from the runtime's monitor: addresses as [`Input::LocalAddresses`],
    /// plus the monitor's verdict on default routes and interfaces.
    pub(super) fn on_snapshot(&mut self, now: Instant, snapshot: &NetworkSnapshot) {
        let in_use: Vec<IpAddr> = self
            .path
            .as_ref()
            .map(|p| p.local_socket.ip())
            .into_iter()
            .collect();
        let change = match &self.network.snapshot {
            Some(old) => classify(old, snapshot, &in_use),
            None => Change::None,
        };
        self.network.snapshot = Some(snapshot.clone());
        let ips: Vec<IpAddr> = snapshot.addresses.iter().map(|a| a.ip).collect();
        let had_path = self.path_works();
        // The path's local address is gone: its socket closes once the new ones are
        // bound (make-before-break), so the path still "works" for a moment, but it is
        // lost, not surrounded by change.
        let path_address_gone =
            !in_use.is_empty() && !in_use.iter().any(|ip| snapshot.has_address(*ip));
        self.set_local_addresses(now, &ips);
        if change != Change::Major {
            return;
        }
        if self.path_works() && !path_address_gone {
            // The path survived, but what surrounds it moved (default route, a VPN):
            // look again for a path from every socket; data keeps the old one meanwhile.
            self.major(now, Major::Snapshot);
        } else if self.path.is_some() {
            // A path that is lost (its socket's retirement reports `PathLost`), or was
            // lost before (back online: `Online`): as after any path loss, the current
            // generation looks for a new one from the new sockets first, and ICE
            // restarts only if none works within `recover_timeout`. A restart here would
            // throw away pairs the peer is already checking and cost a signaling round.
            if !had_path && self.network.recover_by.is_none() {
                self.major(now, Major::PathLost);
            }
        } else if !had_path {
            // Never connected: start over on the new network.
            self.major(now, Major::Snapshot);
        }
    }

    /// A major change.
    pub(super) fn major(&mut self, now: Instant, why: Major) {
        log::debug!("session: major network change ({why:?})");
        self.network.majors += 1;
        // The mappings may be gone with the network (same gateway and socket: else the
        // new socket or gateway gets new mappers anyway).
        self.portmaps.network_changed(now);
        match why {
            Major::Resumed | Major::Snapshot => {
                self.network.restart_forced = true;
                self.schedule_restart(now);
            }
            Major::PathLost | Major::Online => {
                self.network.recover_by = Some(crate::deadline::after(
                    now,
                    self.config.network.recover_timeout,
                ));
            }
        }
    }

    fn schedule_restart(&mut self, now: Instant) {
        let earliest = self.network.last_restart.map_or(now, |l| {
            crate::deadline::after(l, self.config.network.restart_holdoff).max(now)
        });
        self.network.restart_at = Some(
            self.network
                .restart_at
                .map_or(earliest, |t| t.min(earliest)),
        );
    }

    /// A path carries data now.
    pub(super) fn path_works(&self) -> bool {
        self.state == SessionState::Connected && self.agent.selected_pair().is_some()
    }

    /// Runs the recovery deadline and a due restart (from `handle_timeout` and after
    /// socket changes).
    pub(super) fn run_network(&mut self, now: Instant) {
        if self.closed || !self.started || self.network.background {
            return;
        }
        if let Some(t) = self.network.recover_by {
            if self.path_works() {
                self.network.recover_by = None;
            } else if now >= t {
                self.network.recover_by = None;
                self.schedule_restart(now);
            }
        }
        let Some(t) = self.network.restart_at else {
            return;
        };
        // New sockets first: a restart gathers on what is bound.
        if now < t || self.sockets.binding() || self.sockets.all().is_empty() {
            return;
        }
        self.network.restart_at = None;
        let forced = std::mem::take(&mut self.network.restart_forced);
        if !forced && self.path_works() {
            return;
        }
        log::debug!("session: ICE restart after a network change");
        self.network.last_restart = Some(now);
        self.restart_by_us = true;
        self.failed = false;
        self.agent.restart(now);
    }

    /// The network deadlines, for `poll_timeout`.
    pub(super) fn network_timeout(&self) -> Option<Instant> {
        if self.closed || self.network.background {
            return None;
        }
        [self.network.recover_by, self.network.restart_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// A path that worked failed (or a restart after it did): restart by ourselves, within
    /// the policy's budget, spaced by the restart holdoff.
    /// Whether a restart is now scheduled.
    pub(super) fn restart_after_failure(&mut self, now: Instant) -> bool {
        if self.network.failure_restarts >= self.config.network.restart_on_failure {
            return false;
        }
        self.network.failure_restarts += 1;
        log::debug!(
            "session: the path failed; ICE restart {} of {}",
            self.network.failure_restarts,
            self.config.network.restart_on_failure
        );
        self.network.restart_forced = true;
        self.schedule_restart(now);
        true
    }

    /// A restart happened (ours or the peer's): the holdoff starts.
    pub(super) fn note_restart(&mut self, now: Instant) {
        self.network.last_restart = Some(now);
    }
}
