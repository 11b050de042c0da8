//! Connectivity checks (RFC 8445 §6.1.4, §7): the input classifier, the
//! paced check scheduler with its triggered-check queue, the STUN server side
//! (authentication, role conflicts, peer-reflexive remotes) and the client
//! side (symmetric-address rule, peer-reflexive local addresses, 487).
//!
//! Scheduling: one new check per Ta (default 50 ms). The triggered-check
//! queue goes first, then the highest-priority Waiting pair, then the
//! highest-priority Frozen pair whose foundation has nothing Waiting or In
//! Progress (§6.1.4.2; this lazy unfreezing also covers trickled pairs,
//! RFC 8838 §11). Once a pair is selected, ordinary checks continue only on
//! pairs of higher priority (candidates for an upgrade); triggered checks
//! always run, since the peer needs them to validate its side. Retransmissions
//! follow the transaction schedule and are not paced. At most
//! `max_checks_in_flight` ordinary checks are outstanding, triggered ones
//! included (see pacer.rs).
//!
//! Demultiplexing (RFC 7983): datagrams from one of our TURN servers go to
//! its client ([`super::relay`]), which hands relayed ones back as arriving
//! on the relayed address. Otherwise by the first byte: 0–3 STUN, anything
//! else is application data, accepted only from a (local, remote) tuple that
//! passed an authenticated STUN exchange. TURN traffic having been taken out
//! by source, 64–79 (TURN ChannelData) from such a tuple is data as well
//! (`@`, `A`–`O`: "Hello"); from any other source it is counted as
//! unsupported and dropped.
//!
//! Inbound requests are authenticated first (one HMAC), then rate limited:
//! authenticated ones by `max_requests_per_second`, the 400/401 answers to
//! the others by `max_unauthenticated_per_second`, so a spoofed flood never
//! takes the real peer's budget.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::agent::{
    CheckKind, ConnectionState, IceAgent, IceEvent, NominationMode, PairKey, RateWindow, TxContext,
};
use super::candidate::{Candidate, CandidateType, Transport};
use super::pair::PairState;
use super::priority::{foundation, FoundationInput};
use crate::stun::transaction::Completed;
use crate::stun::{
    encode_to_vec, Attribute, Class, ErrorCode, IntegrityKey, Message, MessageBuilder, MessageType,
    Method, TransactionId,
};

/// libwebrtc's NOMINATION attribute (comprehension-optional): the
/// renomination counter.
pub(super) const NOMINATION_ATTR: u16 = 0xC001;

impl IceAgent {
    /// Classifies and handles one received datagram. Never panics on input.
    pub(super) fn handle_receive(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) {
        if !self.sockets.iter().any(|s| s.addr == local) {
            // A hard-NAT punching socket: only the peer's check or an answer to a probe.
            if !(self.is_punch_socket(local) && self.punch_inbound(now, local, from, data)) {
                self.counters.unknown_socket += 1;
                return;
            }
        }
        let Some(&first) = data.first() else {
            self.counters.malformed += 1;
            return;
        };
        if self.relay_input(now, local, from, data) {
            return; // TURN server traffic (see super::relay)
        }
        if crate::stun::is_stun_first_byte(first) {
            match Message::parse(data) {
                Ok(msg) => self.handle_stun(now, local, from, &msg),
                Err(e) => {
                    log::debug!("ice: malformed STUN from {from}: {e}");
                    self.counters.malformed += 1;
                }
            }
        } else if let Some(last) = self.peers.get_mut(&(local, from)) {
            // TURN server traffic never gets here (`relay_input` above), so
            // from an authenticated peer tuple 64–79 (`@`, `A`–`O`) is data too.
            *last = now;
            // Per datagram: no allocation (the two generations by hand).
            for g in std::iter::once(&mut self.current).chain(self.previous.as_mut()) {
                if let Some(k) = g.pair_at(local, from) {
                    g.pair_data(k).bytes_received += data.len() as u64;
                    if g.selected == Some(k) {
                        g.liveness.data_in_since_check = true;
                    }
                }
            }
            self.follow_peer(now, local, from);
            self.events.push_back(IceEvent::Data {
                local,
                from,
                data: data.to_vec(),
            });
        } else if (64..=79).contains(&first) {
            self.counters.unsupported += 1; // ChannelData from a stranger
        } else {
            self.counters.data_unknown_source += 1;
        }
    }

    pub(super) fn generation_ids(&self) -> Vec<u32> {
        std::iter::once(self.current.id)
            .chain(self.previous.as_ref().map(|p| p.id))
            .collect()
    }

    fn handle_stun(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, msg: &Message) {
        if msg.method() != Method::BINDING {
            self.counters.unsupported += 1;
            return;
        }
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            self.counters.malformed += 1;
            return;
        }
        match msg.class() {
            Class::Request => self.handle_request(now, local, from, msg),
            Class::Success | Class::Error => self.handle_response(now, local, from, msg),
            Class::Indication => {
                // Binding indications are keepalives: only refresh a known tuple.
                if let Some(t) = self.peers.get_mut(&(local, from)) {
                    *t = now;
                }
            }
        }
    }

    /// Counts one inbound request against its one-second budget and says
    /// whether it may be answered: `max_requests_per_second` for
    /// authenticated requests, `max_unauthenticated_per_second` for the
    /// 400/401 answers to the rest, so that a spoofed flood cannot use up
    /// the real peer's budget.
    fn rate_ok(&mut self, now: Instant, authenticated: bool) -> bool {
        let w = &mut self.rate_window;
        if w.start.is_none_or(|s| now >= s + Duration::from_secs(1)) {
            *w = RateWindow {
                start: Some(now),
                ..RateWindow::default()
            };
        }
        let (n, cap) = if authenticated {
            (&mut w.authenticated, self.config.max_requests_per_second)
        } else {
            (
                &mut w.unauthenticated,
                self.config.max_unauthenticated_per_second,
            )
        };
        *n = n.saturating_add(1);
        *n <= cap
    }

    /// A request that failed authentication: counted, and answered with
    /// `code` while its own budget lasts (dropped and counted after that).
    fn reject_unauthenticated(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        tid: TransactionId,
        code: ErrorCode<'static>,
    ) {
        self.counters.unauthenticated += 1;
        if self.rate_ok(now, false) {
            self.respond_error(local, from, tid, code, None);
        } else {
            self.counters.unauthenticated_rate_limited += 1;
        }
    }

    /// RFC 8445 §7.3: authenticate, resolve role conflicts, answer, learn.
    /// Authentication (one HMAC) comes before the rate limit, so only
    /// authenticated requests use up `max_requests_per_second`.
    fn handle_request(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, msg: &Message) {
        let tid = msg.transaction_id();
        let username = match msg.username() {
            Ok(Some(u)) if msg.has_integrity() => u,
            _ => {
                self.reject_unauthenticated(now, local, from, tid, ErrorCode::BAD_REQUEST);
                return;
            }
        };
        let lufrag = username.split(':').next().unwrap_or("");
        let gid = self.generation_ids().into_iter().find(|&id| {
            self.generation(id)
                .is_some_and(|g| g.local.ufrag.as_str() == lufrag)
        });
        let Some(gid) = gid else {
            self.reject_unauthenticated(now, local, from, tid, ErrorCode::UNAUTHENTICATED);
            return;
        };
        let key = self.generation(gid).map(|g| g.local_key.clone());
        let Some(key) = key.filter(|k| msg.verify_integrity_key(k).is_ok()) else {
            self.reject_unauthenticated(now, local, from, tid, ErrorCode::UNAUTHENTICATED);
            return;
        };
        if !self.rate_ok(now, true) {
            self.counters.rate_limited += 1;
            return;
        }
        // RFC 8489 §6.3.1, after authentication: comprehension-required attributes this
        // agent does not know get a 420 listing them, and the check is not answered.
        if msg.has_unknown_comprehension_required() {
            self.counters.unknown_attributes += 1;
            self.respond_unknown_attributes(local, from, msg, &key);
            return;
        }

        // §7.3.1.1 role conflicts.
        let theirs_controlling = msg.ice_controlling().ok().flatten();
        let theirs_controlled = msg.ice_controlled().ok().flatten();
        if self.controlling {
            if let Some(tb) = theirs_controlling {
                self.counters.role_conflicts += 1;
                if self.tie_breaker >= tb {
                    self.respond_error(local, from, tid, ErrorCode::ROLE_CONFLICT, Some(&key));
                    return;
                }
                self.set_role(false);
            }
        } else if let Some(tb) = theirs_controlled {
            self.counters.role_conflicts += 1;
            if self.tie_breaker >= tb {
                self.set_role(true);
            } else {
                self.respond_error(local, from, tid, ErrorCode::ROLE_CONFLICT, Some(&key));
                return;
            }
        }

        let resp = encode_to_vec(
            MessageType::new(Class::Success, Method::BINDING),
            tid,
            &[Attribute::XorMappedAddress(from)],
            Some(key.as_bytes()),
            true,
        );
        if let Ok(bytes) = resp {
            self.outbox.push_back(super::agent::Transmit {
                from: local,
                to: from,
                bytes,
            });
        }
        self.peers.insert((local, from), now);

        let priority = msg.priority().ok().flatten();
        let use_candidate = msg.use_candidate().unwrap_or(false);
        let nomination = msg
            .get(NOMINATION_ATTR)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(u32::from_be_bytes);
        self.on_check_received(
            now,
            gid,
            (local, from),
            priority,
            use_candidate,
            nomination,
            msg.as_bytes().len(),
        );
    }

    /// §7.3.1.3 (peer-reflexive remote) and §7.3.1.4 (triggered check),
    /// §7.3.1.5 (nomination on the controlled side).
    #[allow(clippy::too_many_arguments)]
    fn on_check_received(
        &mut self,
        now: Instant,
        gid: u32,
        (local, from): (SocketAddr, SocketAddr),
        priority: Option<u32>,
        use_candidate: bool,
        nomination: Option<u32>,
        len: usize,
    ) {
        let is_current = gid == self.current.id;
        let prflx_priority = priority.unwrap_or_else(|| self.prflx_priority(0));
        let Some(g) = self.generation_mut(gid) else {
            return;
        };
        let Some(host) = g.host_of(local) else {
            return;
        };
        let rid = match g.remote_at(from) {
            Some(r) => r,
            None if is_current => {
                let c = Candidate::new(
                    foundation(&FoundationInput {
                        kind: CandidateType::PeerReflexive,
                        base_ip: from.ip(),
                        server_ip: None,
                        transport: Transport::Udp,
                    }),
                    1,
                    Transport::Udp,
                    prflx_priority.max(1),
                    from.ip(),
                    from.port(),
                    CandidateType::PeerReflexive,
                );
                // Through our relay, `from` is the peer's mapping towards the
                // TURN server: only the relay reaches it (its NAT filters the
                // rest, or it is the peer's signaled srflx anyway), so it is
                // not paired with our other candidates (RFC 8445 §7.3.1.3
                // pairs it with none; the triggered check uses this pair).
                let via_relay =
                    g.checklist.locals()[host.0].candidate.kind == CandidateType::Relayed;
                let added = if via_relay {
                    g.checklist.add_remote_for(c, host)
                } else {
                    g.checklist.add_remote(c)
                };
                match added {
                    Ok(r) => {
                        self.counters.prflx_remote_learned += 1;
                        r
                    }
                    Err(_) => {
                        self.counters.remote_candidates_rejected += 1;
                        return;
                    }
                }
            }
            None => return,
        };
        let controlled = !self.controlling;
        let Some(g) = self.generation_mut(gid) else {
            return;
        };
        let key = (host, rid);
        let Some(state) = g.checklist.pair(host, rid).map(|p| p.state) else {
            return;
        };
        let d = g.pair_data(key);
        d.requests_received += 1;
        d.responses_sent += 1;
        d.bytes_received += len as u64;
        self.heard_elsewhere(gid, key);
        let g = self.generation_mut(gid).expect("looked up above");
        match state {
            PairState::Succeeded => {}
            // §7.3.1.4: a check arriving on an In-Progress pair triggers a
            // new check. Our first one may have been dropped by the peer's
            // NAT before the peer's own check opened it (it now has): the
            // new check gets through at once instead of waiting for the
            // old one's retransmission (RTO 250 ms). The old transaction is
            // kept, so a response to it still counts.
            PairState::InProgress | PairState::Frozen | PairState::Waiting | PairState::Failed => {
                g.checklist.set_state(host, rid, PairState::Waiting);
                if !g.triggered.contains(&key) {
                    g.triggered.push_back(key);
                }
            }
        }
        if use_candidate && controlled {
            if g.is_valid(key) {
                self.accept_nomination(now, gid, key, nomination);
            } else {
                g.pair_data(key).remote_nominated = Some(nomination);
            }
        }
    }

    fn respond_error(
        &mut self,
        local: SocketAddr,
        to: SocketAddr,
        tid: TransactionId,
        code: ErrorCode<'static>,
        key: Option<&IntegrityKey>,
    ) {
        let resp = encode_to_vec(
            MessageType::new(Class::Error, Method::BINDING),
            tid,
            &[Attribute::ErrorCode(code)],
            key.map(|k| k.as_bytes()),
            true,
        );
        if let Ok(bytes) = resp {
            self.outbox.push_back(super::agent::Transmit {
                from: local,
                to,
                bytes,
            });
        }
    }

    /// 420 Unknown Attribute with UNKNOWN-ATTRIBUTES, integrity-protected like any answer
    /// to an authenticated request.
    fn respond_unknown_attributes(
        &mut self,
        local: SocketAddr,
        to: SocketAddr,
        request: &Message,
        key: &IntegrityKey,
    ) {
        // UNKNOWN-ATTRIBUTES takes 2 bytes per type, each of at least 4 in the request.
        let mut buf = [0u8; 2048];
        let Ok(Some(mut b)) = MessageBuilder::unknown_attributes_response(&mut buf, request) else {
            return;
        };
        if b.add_message_integrity_key(key).is_err() || b.add_fingerprint().is_err() {
            return;
        }
        let bytes = b.finish().to_vec();
        self.outbox.push_back(super::agent::Transmit {
            from: local,
            to,
            bytes,
        });
    }

    /// A Binding response: to a gathering request or to a check.
    fn handle_response(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        msg: &Message,
    ) {
        let tid = msg.transaction_id();
        let Some(ctx) = self.transactions.context(&tid).cloned() else {
            if !self.punch_response(now, local, from, msg) {
                self.counters.stray_responses += 1;
            }
            return;
        };
        match ctx {
            TxContext::Gather {
                gen,
                socket,
                server,
            } => {
                if from != server || local != socket {
                    self.counters.stray_responses += 1;
                    return;
                }
                // Only ends the transaction: its context was read above.
                let _ = self.transactions.handle_response(now, &tid);
                self.on_gather_response(gen, socket, server, msg);
            }
            TxContext::Check {
                gen,
                pair,
                from: sent_from,
                kind,
                controlling,
            } => {
                let Some(g) = self.generation(gen) else {
                    self.transactions.cancel(&tid);
                    return;
                };
                let Some((_, rkey)) = &g.remote else {
                    self.counters.stray_responses += 1;
                    return;
                };
                if msg.verify_integrity_key(rkey).is_err() {
                    self.counters.unauthenticated += 1;
                    return;
                }
                let (_, sent_to) = g.tuple(pair);
                let Some(done) = self.transactions.handle_response(now, &tid) else {
                    return;
                };
                // §7.2.5.2.1: source and destination must be symmetric.
                if from != sent_to || local != sent_from {
                    self.check_failed(now, gen, pair, kind, tid);
                    return;
                }
                // RFC 8489 §6.3.3 and §6.3.4: a response with comprehension-required
                // attributes we do not know fails the transaction.
                if msg.has_unknown_comprehension_required() {
                    self.counters.unknown_attributes += 1;
                    self.check_failed(now, gen, pair, kind, tid);
                    return;
                }
                self.peers.insert((local, from), now);
                if msg.class() == Class::Error {
                    let code = msg.error_code().ok().flatten().map(|e| e.code);
                    if code == Some(487) {
                        // §7.2.5.1: switch to the role opposite to the one we
                        // claimed, unless a conflict already switched us.
                        self.counters.role_conflicts += 1;
                        if self.controlling == controlling {
                            self.set_role(!controlling);
                        }
                        if let Some(g) = self.generation_mut(gen) {
                            if g.nominating == Some(pair) {
                                g.nominating = None;
                            }
                            let d = g.pair_data(pair);
                            if d.in_flight == Some(tid) {
                                d.in_flight = None;
                            }
                            if !d.valid {
                                g.checklist.set_state(pair.0, pair.1, PairState::Waiting);
                            }
                            if !g.triggered.contains(&pair) {
                                g.triggered.push_back(pair);
                            }
                        }
                    } else {
                        self.check_failed(now, gen, pair, kind, tid);
                    }
                    return;
                }
                let mapped = msg.xor_mapped_address().ok().flatten();
                self.on_check_success(now, gen, pair, kind, &done, mapped, msg.as_bytes().len());
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_check_success(
        &mut self,
        now: Instant,
        gen: u32,
        pair: PairKey,
        kind: CheckKind,
        done: &Completed<TxContext>,
        mapped: Option<SocketAddr>,
        len: usize,
    ) {
        let sent = now.checked_sub(done.timing.elapsed).unwrap_or(now);
        let Some(g) = self.generation_mut(gen) else {
            return;
        };
        let (base, _) = g.tuple(pair);
        let selected = g.selected == Some(pair);
        let d = g.pair_data(pair);
        d.responses_received += 1;
        d.bytes_received += len as u64;
        d.rtt = Some(done.timing.rtt.unwrap_or(done.timing.elapsed));
        d.last_response = Some(now);
        d.last_answered_sent = Some(d.last_answered_sent.map_or(sent, |s| s.max(sent)));
        if d.in_flight == Some(done.id) {
            d.in_flight = None;
        }
        if d.consent_lost {
            return; // RFC 7675: a pair that lost consent stays failed
        }
        let newly_valid = !d.valid;
        d.valid = true;
        d.succeeded_at.get_or_insert(now);
        let learned_prflx = mapped.is_some_and(|m| m != base && d.mapped != Some(m));
        // This side's NAT mapping was lost and made again: evidence for the keepalive
        // policy that its interval was too long.
        let remapped = selected && d.mapped.is_some() && mapped.is_some() && d.mapped != mapped;
        d.mapped = mapped;
        let remote_nominated = d.remote_nominated.take();
        if let Some(p) = g.checklist.pair(pair.0, pair.1) {
            let f = p.foundation.clone();
            g.checklist.set_state(pair.0, pair.1, PairState::Succeeded);
            g.checklist.unfreeze_foundation(&f);
        }
        if remapped {
            log::debug!("ice: the selected pair's mapped address changed to {mapped:?}");
            self.counters.mapped_changes += 1;
        }
        if selected {
            self.consent_answered(now, gen, sent);
        }
        let Some(g) = self.generation_mut(gen) else {
            return;
        };
        if learned_prflx {
            let known = mapped.is_some_and(|m| {
                g.checklist.locals().iter().any(|l| {
                    l.candidate.address.ip() == Some(m.ip()) && l.candidate.port == m.port()
                })
            });
            if !known {
                self.counters.prflx_local_learned += 1;
            }
        }
        if newly_valid {
            log::debug!("ice: pair {pair:?} of generation {gen} is valid");
        }
        match kind {
            CheckKind::Consent | CheckKind::Keepalive => {}
            CheckKind::Nominate(_) => {
                if let Some(g) = self.generation_mut(gen) {
                    if g.nominating == Some(pair) {
                        g.nominating = None;
                    }
                }
                if self.config.nomination == NominationMode::Aggressive {
                    self.select_if_better(now, gen, pair);
                } else {
                    self.select(now, gen, pair);
                }
            }
            CheckKind::Ordinary => {
                if let Some(n) = remote_nominated.filter(|_| !self.controlling) {
                    self.accept_nomination(now, gen, pair, n);
                }
            }
        }
        // The selected pair went away (its socket, or consent) with no other valid pair
        // then: this is the first one since, so data moves to it.
        if newly_valid
            && self.state == ConnectionState::Disconnected
            && self.sending_generation().is_none()
        {
            self.after_selection_lost(now);
        }
    }

    fn check_failed(
        &mut self,
        now: Instant,
        gen: u32,
        pair: PairKey,
        kind: CheckKind,
        tid: TransactionId,
    ) {
        let Some(g) = self.generation_mut(gen) else {
            return;
        };
        if g.nominating == Some(pair) {
            g.nominating = None;
        }
        let d = g.pair_data(pair);
        if d.in_flight == Some(tid) {
            d.in_flight = None;
        }
        match kind {
            CheckKind::Keepalive => {
                if g.selected == Some(pair) {
                    log::debug!("ice: keepalive on {pair:?} unanswered");
                    self.counters.keepalive_timeouts += 1;
                }
            }
            CheckKind::Consent => {
                if g.selected == Some(pair) {
                    self.counters.consent_timeouts += 1;
                }
            }
            CheckKind::Nominate(_) => {
                // A valid pair whose nomination fails is no longer trusted.
                d.valid = false;
                g.checklist.set_state(pair.0, pair.1, PairState::Failed);
                if g.selected == Some(pair) {
                    g.clear_selection();
                    self.after_selection_lost(now);
                }
            }
            CheckKind::Ordinary => {
                // A superseded transaction (a triggered check replaced it)
                // failing says nothing about the newer one.
                let superseded = d.in_flight.is_some_and(|t| t != tid);
                if !d.valid && !superseded {
                    g.checklist.set_state(pair.0, pair.1, PairState::Failed);
                }
            }
        }
    }

    /// A transaction ran out of retransmissions.
    pub(super) fn on_timed_out(&mut self, now: Instant, id: TransactionId, ctx: TxContext) {
        match ctx {
            TxContext::Gather { gen, .. } => self.on_gather_timeout(gen),
            TxContext::Check {
                gen, pair, kind, ..
            } => self.check_failed(now, gen, pair, kind, id),
        }
    }
}
