//! Handling responses to the client's requests: success, the 401/438 challenges,
//! 300 redirects, and error codes mapped to [`TurnError`]s.

use std::time::{Duration, Instant};

use super::MAX_STALE_RETRIES;
use super::{Allocation, Event, Pending, Request, TurnClient, TurnState, DEFAULT_LIFETIME};
use crate::deadline::after;
use crate::stun::{Class, Message};
use crate::turn::error::TurnError;
use crate::turn::requests::{algorithms_stripped, ChallengeError};

impl TurnClient {
    pub(super) fn handle_response(&mut self, now: Instant, msg: &Message<'_>) {
        let tid = msg.transaction_id();
        let Some(pending) = self.transactions.context(&tid) else {
            self.stats.dropped += 1;
            return;
        };
        let required = pending.authenticated && msg.class() == Class::Success;
        if pending.authenticated && !self.auth.verify(msg, required, pending.sha256) {
            log::debug!("TURN: response from {} failed integrity", self.server);
            self.stats.integrity_failures += 1;
            return;
        }
        let code = msg.error_code().ok().flatten().map(|e| e.code);
        if pending.authenticated
            && code == Some(400)
            && !msg.has_integrity()
            && !msg.has_integrity_sha256()
        {
            // RFC 8489 §9.2.5: an unprotected 400 to an authenticated request is
            // discarded as if never received (anyone on the path could forge it), and
            // retransmissions continue.
            self.stats.integrity_failures += 1;
            return;
        }
        if !matches!(code, Some(401 | 438)) && algorithms_stripped(msg) {
            // RFC 8489 §9.2.5: a response other than 401/438 whose nonce cookie
            // announces PASSWORD-ALGORITHMS without the attribute must be ignored.
            log::debug!(
                "TURN: ignoring a response from {} with a stripped PASSWORD-ALGORITHMS",
                self.server
            );
            self.stats.dropped += 1;
            return;
        }
        let Some(done) = self.transactions.handle_response(now, &tid) else {
            return;
        };
        let pending = done.context;
        if msg.has_unknown_comprehension_required() {
            // RFC 8489 §6.3.3 / §6.3.4: a success or error response with unknown
            // comprehension-required attributes fails the transaction, at once.
            let types: Vec<String> = msg
                .unknown_comprehension_required()
                .map(|t| format!("{t:#06x}"))
                .collect();
            let what = format!(
                "{} response to {} carries unknown comprehension-required attributes {}",
                if msg.class() == Class::Success {
                    "success"
                } else {
                    "error"
                },
                pending.req.name(),
                types.join(", ")
            );
            self.stats.malformed += 1;
            return self.on_error(now, pending.req, self.protocol(&what));
        }
        if msg.class() == Class::Success {
            return self.on_success(now, pending.req, msg);
        }
        let (code, reason) = match msg.error_code() {
            // coturn counts NUL padding into the reason phrase ("Unsupported address
            // family\0\0"): keep it out of the messages users read.
            Ok(Some(e)) => (e.code, e.reason.trim_end_matches('\0').to_string()),
            _ => {
                self.stats.malformed += 1;
                return self.on_error(
                    now,
                    pending.req,
                    self.protocol("error response without a valid ERROR-CODE"),
                );
            }
        };
        match code {
            401 if !pending.authenticated => self.rechallenge(now, pending, msg, 0),
            438 if pending.stale_retries < MAX_STALE_RETRIES => {
                let n = pending.stale_retries + 1;
                self.rechallenge(now, pending, msg, n)
            }
            300 if matches!(pending.req, Request::Allocate) => self.redirect(now, msg),
            _ => {
                let error = self.error_for(code, reason, pending.req.name());
                self.on_error(now, pending.req, error)
            }
        }
    }

    pub(super) fn rechallenge(&mut self, now: Instant, p: Pending, msg: &Message<'_>, stale: u8) {
        match self.auth.challenge(msg) {
            Ok(()) => self.start(now, p.req, true, stale),
            Err(e) => {
                let error = match e {
                    ChallengeError::Credentials(s) => TurnError::Credentials(s),
                    other => self.protocol(&other.to_string()),
                };
                self.on_error(now, p.req, error)
            }
        }
    }

    pub(super) fn redirect(&mut self, now: Instant, msg: &Message<'_>) {
        let Ok(Some(to)) = msg.alternate_server() else {
            return self.fail(self.protocol("300 Try Alternate without ALTERNATE-SERVER"));
        };
        let from = self.server;
        self.visited.push(from);
        if self.visited.len() > self.config.max_redirects as usize || self.visited.contains(&to) {
            return self.fail(TurnError::TooManyRedirects {
                server: from,
                to,
                hops: self.visited.len() as u32 - 1,
            });
        }
        self.cancel_all();
        self.server = to;
        self.auth.reset();
        self.framer.reset();
        let domain = msg.alternate_domain().ok().flatten().map(str::to_string);
        self.events
            .push_back(Event::Redirected { from, to, domain });
        self.start(now, Request::Allocate, false, 0);
    }

    pub(super) fn on_success(&mut self, now: Instant, req: Request, msg: &Message<'_>) {
        let lifetime = match msg.lifetime() {
            Ok(Some(s)) => Duration::from_secs(s.into()),
            _ => DEFAULT_LIFETIME,
        };
        match req {
            Request::Allocate => {
                if self.state != TurnState::Allocating {
                    return;
                }
                let Ok(Some(relayed)) = msg.xor_relayed_address() else {
                    return self
                        .fail(self.protocol("Allocate success without XOR-RELAYED-ADDRESS"));
                };
                let mapped = msg.xor_mapped_address().ok().flatten();
                self.allocation = Some(Allocation {
                    relayed,
                    lifetime,
                    refresh_at: after(now, lifetime * 4 / 5),
                    expires_at: after(now, lifetime),
                    refreshing: false,
                });
                self.state = TurnState::Allocated;
                self.events.push_back(Event::Allocated {
                    relayed,
                    mapped,
                    lifetime,
                });
            }
            Request::Refresh { lifetime: Some(0) } => self.finish_closed(),
            Request::Refresh { .. } => {
                if let Some(a) = &mut self.allocation {
                    a.lifetime = lifetime;
                    a.refresh_at = after(now, lifetime * 4 / 5);
                    a.expires_at = after(now, lifetime);
                    a.refreshing = false;
                    self.events.push_back(Event::Refreshed { lifetime });
                }
            }
            Request::CreatePermission { ip } => {
                let (first, queued) =
                    self.peers
                        .permission_installed_at(ip, now, self.config.permission_refresh);
                if first {
                    self.events.push_back(Event::PermissionCreated { peer: ip });
                }
                for (peer, bytes) in queued {
                    self.send_indication(peer, &bytes);
                }
            }
            Request::ChannelBind { channel, peer } => {
                // A ChannelBind also installs or refreshes the permission for the peer's
                // IP (RFC 8656 §12), which lasts only 300 s against the channel's 600 s.
                // With no permission of its own being refreshed for that IP, the channel
                // refresh is what keeps the permission alive: run it as often as a
                // permission refresh. With one, the channel keeps its own interval.
                let every = if self.peers.permission_installed(peer.ip()) {
                    self.config.channel_refresh
                } else {
                    self.config
                        .channel_refresh
                        .min(self.config.permission_refresh)
                };
                if self.peers.channel_bound_at(channel, peer, now, every) {
                    self.events.push_back(Event::ChannelBound { peer, channel });
                }
            }
        }
    }

    pub(super) fn on_error(&mut self, now: Instant, req: Request, error: TurnError) {
        // 437 to any request on an allocation means the server has none for this 5-tuple
        // (it restarted, or expired it): every later request would fail the same way, so
        // say so now instead of at the next Refresh, minutes away.
        let allocation_gone = matches!(error, TurnError::AllocationMismatch { .. });
        if allocation_gone
            && matches!(
                req,
                Request::CreatePermission { .. } | Request::ChannelBind { .. }
            )
        {
            return self.fail(error);
        }
        match req {
            Request::Allocate if self.state == TurnState::Allocating => self.fail(error),
            Request::Allocate => {}
            Request::Refresh { lifetime: Some(0) } => self.finish_closed(),
            Request::Refresh { .. } => self.fail(error),
            Request::CreatePermission { ip } => {
                if self.peers.remove_permission(ip) {
                    // Channels to that IP relied on this permission's refreshes; their
                    // ChannelBind now has to keep the permission alive (see on_success).
                    self.peers.refresh_channels_now(ip, now);
                    self.events
                        .push_back(Event::PermissionFailed { peer: ip, error });
                }
            }
            Request::ChannelBind { channel, peer } => {
                if self.peers.remove_channel(channel, peer) {
                    self.events
                        .push_back(Event::ChannelBindFailed { peer, error });
                }
            }
        }
    }

    pub(super) fn error_for(&self, code: u16, reason: String, request: &'static str) -> TurnError {
        let server = self.server;
        match code {
            401 => TurnError::Unauthorized {
                server,
                realm: self.auth.realm().to_string(),
            },
            403 => TurnError::Forbidden { server, reason },
            437 => TurnError::AllocationMismatch { server },
            441 => TurnError::WrongCredentials { server },
            486 => TurnError::QuotaReached { server },
            508 => TurnError::InsufficientCapacity { server },
            code => TurnError::ErrorResponse {
                server,
                request,
                code,
                reason,
            },
        }
    }
}
