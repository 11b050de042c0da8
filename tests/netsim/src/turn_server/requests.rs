//! STUN requests: Binding, and the TURN methods Allocate, Refresh,
//! CreatePermission and ChannelBind (RFC 8656 §7, §9, §11), with their errors.

use super::allocation::{desired_lifetime, Allocation, FiveTuple};
use super::auth::{self, Authenticated, Refusal};
use super::framing::{is_valid_channel, pad4};
use super::TurnServer;
use pinhole::stun::attr::{AddressFamily, TRANSPORT_UDP};
use pinhole::stun::{
    Attribute, Class, ErrorCode, Message, MessageBuilder, MessageType, Method, TransactionId,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

/// What a TURN method handler answers: success attributes or an error code.
type Outcome = Result<Vec<Attribute<'static>>, ErrorCode<'static>>;

/// Encodes a message; `mac` adds MESSAGE-INTEGRITY (or -SHA256, as the request did).
/// `None` if a value breaks a STUN limit (e.g. a DATA too big for one message).
pub(crate) fn encode(
    typ: MessageType,
    tid: TransactionId,
    attrs: &[Attribute<'_>],
    mac: Option<&Authenticated>,
    software: Option<&str>,
) -> Option<Vec<u8>> {
    let mut size = 20 + 8 + 36 + software.map_or(0, |s| 4 + pad4(s.len()));
    for a in attrs {
        size += 4 + pad4(a.value_len().ok()?);
    }
    let mut buf = vec![0u8; size];
    let mut b = MessageBuilder::new(&mut buf, typ, tid).ok()?;
    for a in attrs {
        b.add(a).ok()?;
    }
    if let Some(s) = software {
        b.add_software(s).ok()?;
    }
    match mac {
        Some(m) if m.sha256_mac => {
            b.add_message_integrity_sha256(m.key.as_bytes()).ok()?;
        }
        Some(m) => {
            b.add_message_integrity_key(&m.key).ok()?;
        }
        None => {}
    }
    let n = b.finish().len();
    buf.truncate(n);
    Some(buf)
}

impl TurnServer {
    pub(super) fn handle_request(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>) {
        self.stats.requests += 1;
        let tid = msg.transaction_id();
        // RFC 8489 §6.3.1.1: unknown comprehension-required attributes → 420.
        if msg.has_unknown_comprehension_required() {
            let mut buf = vec![0u8; msg.as_bytes().len() + 64];
            let built = MessageBuilder::unknown_attributes_response(&mut buf, msg)
                .ok()
                .flatten()
                .map(|b| b.finish().to_vec());
            if let Some(bytes) = built {
                *self.stats.errors.entry(420).or_default() += 1;
                self.send_to_client(tuple, bytes);
            }
            return;
        }
        let method = msg.method();
        if method == Method::BINDING {
            let attrs = vec![Attribute::XorMappedAddress(tuple.client)];
            self.respond(tuple, msg, Ok(attrs), None);
            return;
        }
        if ![
            Method::ALLOCATE,
            Method::REFRESH,
            Method::CREATE_PERMISSION,
            Method::CHANNEL_BIND,
        ]
        .contains(&method)
        {
            self.respond(tuple, msg, Err(ErrorCode::BAD_REQUEST), None);
            return;
        }
        // A retransmitted Allocate gets the cached success response again (RFC 8656 §7.2).
        if method == Method::ALLOCATE {
            if let Some(a) = self
                .allocations
                .get(&tuple)
                .filter(|a| a.allocate_tid == tid.0)
            {
                let bytes = a.allocate_response.clone();
                self.stats.successes += 1;
                return self.send_to_client(tuple, bytes);
            }
        }
        let auth = match self.nonces.check(now, &self.cfg, msg) {
            Ok(a) => a,
            Err(refusal) => return self.refuse(now, tuple, msg, refusal),
        };
        self.stats.userhash_requests += u64::from(auth.by_userhash);
        let outcome = match method {
            Method::ALLOCATE => self.allocate(now, tuple, msg, &auth),
            Method::REFRESH => self.refresh(now, tuple, msg, &auth),
            Method::CREATE_PERMISSION => self.create_permission(now, tuple, msg, &auth),
            _ => self.channel_bind(now, tuple, msg, &auth),
        };
        let ok = outcome.is_ok();
        if let Some(bytes) = self.respond(tuple, msg, outcome, Some(&auth)) {
            if ok && method == Method::ALLOCATE {
                if let Some(a) = self.allocations.get_mut(&tuple) {
                    a.allocate_response = bytes;
                }
            }
        }
    }

    /// Encodes and sends a response; returns the bytes sent.
    fn respond(
        &mut self,
        tuple: FiveTuple,
        req: &Message<'_>,
        outcome: Outcome,
        mac: Option<&Authenticated>,
    ) -> Option<Vec<u8>> {
        let (class, attrs) = match outcome {
            Ok(attrs) => (Class::Success, attrs),
            Err(e) => (Class::Error, vec![Attribute::ErrorCode(e)]),
        };
        let typ = MessageType::new(class, req.method());
        let sw = self.cfg.software.clone();
        let Some(bytes) = encode(typ, req.transaction_id(), &attrs, mac, sw.as_deref()) else {
            self.stats.dropped.malformed += 1;
            return None;
        };
        match attrs.first() {
            Some(Attribute::ErrorCode(e)) if class == Class::Error => {
                *self.stats.errors.entry(e.code).or_default() += 1
            }
            _ => self.stats.successes += 1,
        }
        self.send_to_client(tuple, bytes.clone());
        Some(bytes)
    }

    /// 401 / 438 with REALM, a fresh NONCE (and PASSWORD-ALGORITHMS), or a bare 400.
    fn refuse(&mut self, now: Instant, tuple: FiveTuple, req: &Message<'_>, r: Refusal) {
        let code = match r {
            Refusal::BadRequest => {
                self.respond(tuple, req, Err(ErrorCode::BAD_REQUEST), None);
                return;
            }
            Refusal::Unauthenticated => ErrorCode::UNAUTHENTICATED,
            Refusal::StaleNonce => ErrorCode::STALE_NONCE,
        };
        let nonce = self.nonces.issue(now, &self.cfg);
        let realm = self.cfg.realm.clone();
        let mut attrs = vec![
            Attribute::ErrorCode(code),
            Attribute::Realm(&realm),
            Attribute::Nonce(&nonce),
        ];
        if self.cfg.offer_sha256 {
            attrs.push(Attribute::PasswordAlgorithms(auth::offered_list()));
        }
        let typ = MessageType::new(Class::Error, req.method());
        let sw = self.cfg.software.clone();
        if let Some(bytes) = encode(typ, req.transaction_id(), &attrs, None, sw.as_deref()) {
            *self.stats.errors.entry(code.code).or_default() += 1;
            self.send_to_client(tuple, bytes);
        }
    }

    fn allocate(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        msg: &Message<'_>,
        auth: &Authenticated,
    ) -> Outcome {
        if self.allocations.contains_key(&tuple) {
            return Err(ErrorCode::ALLOCATION_MISMATCH);
        }
        match msg.requested_transport() {
            Ok(Some(TRANSPORT_UDP)) => {}
            Ok(Some(_)) => return Err(ErrorCode::UNSUPPORTED_TRANSPORT_PROTOCOL),
            _ => return Err(ErrorCode::BAD_REQUEST),
        }
        let even = msg.even_port().map_err(|_| ErrorCode::BAD_REQUEST)?;
        let token = msg
            .reservation_token()
            .map_err(|_| ErrorCode::BAD_REQUEST)?;
        let family = msg
            .requested_address_family()
            .map_err(|_| ErrorCode::BAD_REQUEST)?;
        if token.is_some() && (even.is_some() || family.is_some()) {
            return Err(ErrorCode::BAD_REQUEST);
        }
        if token.is_some() {
            // No reservations are ever made, so no token is valid.
            return Err(ErrorCode::INSUFFICIENT_CAPACITY);
        }
        let relay_ip = match family {
            None => self.cfg.public_ip,
            Some(f) => self
                .cfg
                .ip_of(f)
                .ok_or(ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED)?,
        };
        if let Some(q) = self.cfg.quota_for(&auth.username) {
            let held = self
                .allocations
                .values()
                .filter(|a| a.username == auth.username)
                .count();
            if held >= q {
                return Err(ErrorCode::ALLOCATION_QUOTA_REACHED);
            }
        }
        let port = self
            .take_relay_port(even.is_some())
            .ok_or(ErrorCode::INSUFFICIENT_CAPACITY)?;
        let requested = msg.lifetime().ok().flatten().filter(|&s| s != 0);
        let life = desired_lifetime(requested, self.cfg.default_lifetime, self.cfg.max_lifetime);
        let relayed = SocketAddr::new(relay_ip, port);
        self.allocations.insert(
            tuple,
            Allocation {
                tuple,
                relayed,
                username: auth.username.clone(),
                created_at: now,
                expires_at: now + life,
                allocate_tid: msg.transaction_id().0,
                allocate_response: Vec::new(),
                permissions: BTreeMap::new(),
                channels: BTreeMap::new(),
                to_peer_bytes: 0,
                to_client_bytes: 0,
            },
        );
        self.by_relay_port.insert(port, tuple);
        self.stats.allocations_created += 1;
        Ok(vec![
            Attribute::XorRelayedAddress(relayed),
            Attribute::Lifetime(life.as_secs() as u32),
            Attribute::XorMappedAddress(tuple.client),
        ])
    }

    /// The allocation on `tuple`, owned by the authenticated user (437 / 441).
    fn owned(
        &mut self,
        tuple: &FiveTuple,
        auth: &Authenticated,
    ) -> Result<&mut Allocation, ErrorCode<'static>> {
        let a = self
            .allocations
            .get_mut(tuple)
            .ok_or(ErrorCode::ALLOCATION_MISMATCH)?;
        if a.username != auth.username {
            return Err(ErrorCode::WRONG_CREDENTIALS);
        }
        Ok(a)
    }

    fn refresh(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        msg: &Message<'_>,
        auth: &Authenticated,
    ) -> Outcome {
        let (default, max) = (self.cfg.default_lifetime, self.cfg.max_lifetime);
        let a = self.owned(&tuple, auth)?;
        let family = AddressFamily::of(&a.relayed);
        if let Ok(Some(f)) = msg.requested_address_family() {
            if f != family {
                return Err(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH);
            }
        }
        let requested = msg.lifetime().map_err(|_| ErrorCode::BAD_REQUEST)?;
        let life = desired_lifetime(requested, default, max);
        if life.is_zero() {
            self.remove_allocation(&tuple);
            self.stats.allocations_deleted += 1;
        } else {
            a.expires_at = now + life;
        }
        Ok(vec![Attribute::Lifetime(life.as_secs() as u32)])
    }

    fn create_permission(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        msg: &Message<'_>,
        auth: &Authenticated,
    ) -> Outcome {
        let until = now + self.cfg.permission_lifetime;
        let a = self.owned(&tuple, auth)?;
        let peers: Vec<SocketAddr> = msg
            .xor_peer_addresses()
            .collect::<Result<_, _>>()
            .map_err(|_| ErrorCode::BAD_REQUEST)?;
        if peers.is_empty() {
            return Err(ErrorCode::BAD_REQUEST);
        }
        if peers.iter().any(|p| p.is_ipv4() != a.relayed.is_ipv4()) {
            return Err(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH);
        }
        let mut created = 0;
        for p in peers {
            created += u64::from(a.permit(p.ip(), until));
        }
        self.stats.permissions_created += created;
        Ok(Vec::new())
    }

    fn channel_bind(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        msg: &Message<'_>,
        auth: &Authenticated,
    ) -> Outcome {
        let perm_until = now + self.cfg.permission_lifetime;
        let chan_until = now + self.cfg.channel_lifetime;
        let a = self.owned(&tuple, auth)?;
        let channel = match msg.channel_number() {
            Ok(Some(n)) if is_valid_channel(n) => n,
            _ => return Err(ErrorCode::BAD_REQUEST),
        };
        let Ok(Some(peer)) = msg.xor_peer_address() else {
            return Err(ErrorCode::BAD_REQUEST);
        };
        if peer.is_ipv4() != a.relayed.is_ipv4() {
            return Err(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH);
        }
        // RFC 8656 §11.2: a channel is bound to one peer and a peer to one channel.
        if a.channels.get(&channel).is_some_and(|(p, _)| *p != peer) {
            return Err(ErrorCode::BAD_REQUEST);
        }
        if a.channel_for_peer(peer).is_some_and(|n| n != channel) {
            return Err(ErrorCode::BAD_REQUEST);
        }
        let new_channel = a.channels.insert(channel, (peer, chan_until)).is_none();
        let new_perm = a.permit(peer.ip(), perm_until);
        self.stats.channels_bound += u64::from(new_channel);
        self.stats.permissions_created += u64::from(new_perm);
        Ok(Vec::new())
    }
}
