//! RFC 5780 NAT behaviour discovery: one socket, one server, a report in RFC 4787 words.
//!
//! The tests, in the order this machine runs them:
//!
//! 1. **Test I** — Binding request to the server's primary address: the mapped address,
//!    OTHER-ADDRESS (the server's alternate) and an RTT. Mapped equal to the local
//!    address means there is no NAT.
//! 2. **Filtering II / III** (§4.4) — requests to the primary with CHANGE-REQUEST "change IP
//!    and port" and "change port", sent together: both go to the primary address, so neither
//!    opens the filter for the other, and a NAT that drops both costs one transaction
//!    timeout instead of two. An answer to II means endpoint-independent filtering; else an
//!    answer to III means address-dependent; else address-and-port-dependent.
//!    They run *before* the mapping tests: mapping test II sends to the alternate IP, which
//!    would open the NAT's filter towards that IP and make address-dependent filtering look
//!    endpoint-independent.
//! 3. **Mapping II / III** (§4.3) — plain requests to (alternate IP, primary port) and then
//!    to the alternate address. The same mapping as Test I means endpoint-independent; the
//!    same as II in III means address-dependent; else address-and-port-dependent.
//! 4. **Hairpinning** (§4.5) — in parallel with the filtering tests, a Binding request from
//!    the socket to its own mapped address. If the NAT hairpins it, it comes back to the
//!    same socket: the runtime feeds every datagram the socket receives to
//!    [`NatDiscovery::handle_input`], which recognises its own request by transaction ID.
//!
//! A test that cannot run (no OTHER-ADDRESS, a server error) or whose answer is
//! inconsistent yields [`Mapping::Unknown`] / [`Filtering::Unknown`] with the reason. An
//! unanswered filtering test is a verdict (the NAT dropped it); an unanswered mapping test
//! is not.
//!
//! Driver loop (one UDP socket, `config.local`, which every [`Transmit`] names as `from`):
//!
//! ```text
//! let mut d = NatDiscovery::new(now, config, &mut rng)?;
//! while !d.is_done() {
//!     while let Some(t) = d.poll_transmit() { socket.send_to(&t.bytes, t.to) }
//!     select! { (buf, from) = socket.recv_from() => d.handle_input(now, from, &buf),
//!               _ = sleep_until(d.poll_timeout()) => d.handle_timeout(now) }
//! }
//! let report = d.result();
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::RngCore;

use super::{binding_request, parse, Received, RequestOptions};
use crate::stun::transaction::{TransactionConfig, TransactionError, Transactions};
use crate::stun::{Class, Method, TransactionId};
use crate::Transmit;

/// Why a behaviour could not be classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnknownReason {
    /// The server sent no OTHER-ADDRESS (it does not support RFC 5780), or one sharing its
    /// primary IP or port, which cannot tell the behaviours apart.
    NoOtherAddress,
    /// A request the verdict depends on was never answered.
    TimedOut,
    /// The server answered with an error (e.g. 420: no CHANGE-REQUEST support).
    ServerError(u16),
    /// The server answered a CHANGE-REQUEST from an address other than the one asked for.
    ChangeRequestIgnored,
    /// A success response without a mapped address.
    NoMappedAddress,
}

/// How the NAT maps one internal address to external ones (RFC 4787 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mapping {
    /// The mapped address equals the local address: no NAT on the path.
    NoNat,
    /// Every destination sees the same mapped address (what hole punching wants).
    EndpointIndependent,
    /// A new mapping per destination IP.
    AddressDependent,
    /// A new mapping per destination IP and port ("symmetric NAT").
    AddressAndPortDependent,
    /// The tests could not tell.
    Unknown(UnknownReason),
}

/// Which inbound packets the NAT lets through to a mapping (RFC 4787 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Filtering {
    /// Anyone may send to a mapping once it exists.
    EndpointIndependent,
    /// Only IPs the mapping sent to may answer.
    AddressDependent,
    /// Only IP:port pairs the mapping sent to may answer.
    AddressAndPortDependent,
    /// The tests could not tell.
    Unknown(UnknownReason),
}

impl Mapping {
    /// `no-nat`, the RFC 4787 words (`endpoint-independent`, `address-dependent`,
    /// `address-and-port-dependent`) or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mapping::NoNat => "no-nat",
            Mapping::EndpointIndependent => "endpoint-independent",
            Mapping::AddressDependent => "address-dependent",
            Mapping::AddressAndPortDependent => "address-and-port-dependent",
            Mapping::Unknown(_) => "unknown",
        }
    }
}

impl Filtering {
    /// The RFC 4787 words or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Filtering::EndpointIndependent => "endpoint-independent",
            Filtering::AddressDependent => "address-dependent",
            Filtering::AddressAndPortDependent => "address-and-port-dependent",
            Filtering::Unknown(_) => "unknown",
        }
    }
}

/// What discovery found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatReport {
    /// Our address as the server saw it (Test I).
    pub mapped: SocketAddr,
    /// The server's alternate address, if it advertised one.
    pub other_address: Option<SocketAddr>,
    /// Mapping behaviour (RFC 5780 §4.3).
    pub mapping: Mapping,
    /// Filtering behaviour (RFC 5780 §4.4).
    pub filtering: Filtering,
    /// `Some(true)` if a packet to our own mapped address came back; `None` when there is
    /// no NAT (nothing to hairpin).
    pub hairpinning: Option<bool>,
    /// Smallest unambiguous round-trip time to the server (Karn's rule), if any.
    pub rtt: Option<Duration>,
}

/// Discovery could not even learn the mapped address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Test I was never answered.
    #[error(
        "STUN server {server} did not answer a Binding request within {waited:?}: check the \
         address and port, and that UDP to it is not blocked"
    )]
    NoResponse {
        /// The STUN server asked.
        server: SocketAddr,
        /// How long the client waited (the transaction timeout).
        waited: Duration,
    },
    /// The server answered Test I with an error response.
    #[error("STUN server {server} rejected the Binding request: {code} {reason}")]
    ServerError {
        /// The STUN server asked.
        server: SocketAddr,
        /// The STUN error code.
        code: u16,
        /// The server's reason phrase.
        reason: String,
    },
    /// The server answered Test I without a mapped address.
    #[error("STUN server {server} answered without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS")]
    NoMappedAddress {
        /// The STUN server asked.
        server: SocketAddr,
    },
    /// The retransmission settings are invalid (a configuration mistake).
    #[error(transparent)]
    Transaction(#[from] TransactionError),
}

/// Configuration of a discovery run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// The STUN server's primary address.
    pub server: SocketAddr,
    /// The socket's own address, used to detect "no NAT". Pass a concrete interface
    /// address; with an unspecified IP (0.0.0.0) "no NAT" is never reported.
    pub local: SocketAddr,
    /// Retransmissions of every test; the unanswered-test verdicts wait this long.
    pub transaction: TransactionConfig,
    /// Run the hairpinning test.
    pub hairpinning: bool,
}

impl DiscoveryConfig {
    /// Defaults: [`TransactionConfig::gathering`] (≈5 s per unanswered test), hairpinning on.
    pub fn new(server: SocketAddr, local: SocketAddr) -> Self {
        DiscoveryConfig {
            server,
            local,
            transaction: TransactionConfig::gathering(),
            hairpinning: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    One,
    FilteringTwo,
    FilteringThree,
    MappingTwo,
    MappingThree,
    Hairpin,
}

/// The sans-IO RFC 5780 discovery client. See the module docs for the driver loop.
#[derive(Debug)]
pub struct NatDiscovery {
    config: DiscoveryConfig,
    ids: [TransactionId; 6],
    table: Transactions<Test>,
    mapped: Option<SocketAddr>,
    other: Option<SocketAddr>,
    mapping_two: Option<SocketAddr>,
    /// Whether filtering tests II and III were answered (`None` while in flight).
    filtering_answers: [Option<bool>; 2],
    mapping: Option<Mapping>,
    filtering: Option<Filtering>,
    hairpinning: Option<Option<bool>>,
    rtt: Option<Duration>,
    result: Option<Result<NatReport, DiscoveryError>>,
    dropped: u64,
    /// Every mapped address seen, in order (tests I, II, III).
    samples: Vec<SocketAddr>,
}

impl NatDiscovery {
    /// Starts discovery at `now`: Test I is queued at once. Transaction IDs come from
    /// `rng`, so a seeded RNG replays exactly.
    pub fn new<R: RngCore + ?Sized>(
        now: Instant,
        config: DiscoveryConfig,
        rng: &mut R,
    ) -> Result<Self, DiscoveryError> {
        let ids = std::array::from_fn(|_| TransactionId::random(rng));
        let mut d = NatDiscovery {
            config,
            ids,
            table: Transactions::new(),
            mapped: None,
            other: None,
            mapping_two: None,
            filtering_answers: [None; 2],
            mapping: None,
            filtering: None,
            hairpinning: None,
            rtt: None,
            result: None,
            dropped: 0,
            samples: Vec::new(),
        };
        d.start(now, Test::One, config.server, RequestOptions::default())?;
        Ok(d)
    }

    /// A datagram arrived on the discovery socket from `from`. Anything that is not a
    /// response to one of our tests (or our own hairpinned request) is dropped and counted.
    pub fn handle_input(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Some(msg) = parse(datagram) else {
            self.dropped += 1;
            return;
        };
        let expected = match msg.class {
            Class::Request => msg.id == self.ids[Test::Hairpin as usize],
            Class::Success | Class::Error => msg.id != self.ids[Test::Hairpin as usize],
            Class::Indication => false,
        };
        if !expected || msg.method != Method::BINDING {
            self.dropped += 1;
            return;
        }
        let Some(done) = self.table.handle_response(now, &msg.id) else {
            self.dropped += 1;
            return;
        };
        if let Some(rtt) = done.timing.rtt.filter(|_| done.context != Test::Hairpin) {
            self.rtt = Some(self.rtt.map_or(rtt, |r| r.min(rtt)));
        }
        self.on_answer(now, done.context, from, &msg);
    }

    /// Time has passed: retransmit, and turn unanswered tests into verdicts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.table.handle_timeout(now);
        while let Some(t) = self.table.poll_timed_out() {
            self.on_timeout(now, t.context);
        }
    }

    /// The next datagram to send, always from the discovery socket (`config.local`).
    #[must_use = "a polled datagram is gone from the queue: send it"]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.table.poll_transmit()?;
        Some(Transmit {
            from: self.config.local,
            to: t.to,
            bytes: t.bytes,
        })
    }

    /// When to call [`NatDiscovery::handle_timeout`]; `None` once done.
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.poll_timeout()
    }

    /// True once the report (or the error) is ready.
    pub fn is_done(&self) -> bool {
        self.result.is_some()
    }

    /// The outcome, once done.
    pub fn result(&self) -> Option<&Result<NatReport, DiscoveryError>> {
        self.result.as_ref()
    }

    /// Datagrams that were not an expected answer (malformed, stray, late duplicates).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The mapped addresses of the mapping tests, in the order they were made (test I's,
    /// then II's and III's when those ran): with a new mapping per destination, how far
    /// apart their ports are tells a sequential allocator from a random one.
    pub fn mapped_samples(&self) -> &[SocketAddr] {
        &self.samples
    }

    fn start(
        &mut self,
        now: Instant,
        test: Test,
        to: SocketAddr,
        opts: RequestOptions,
    ) -> Result<(), TransactionError> {
        let id = self.ids[test as usize];
        let request = binding_request(id, opts);
        self.table
            .start(now, id, to, request, self.config.transaction, test)
    }

    /// Starting a test cannot fail: IDs are distinct per test and the config was checked
    /// by Test I. Should it fail anyway, the test's verdict stays unknown.
    fn launch(&mut self, now: Instant, test: Test, to: SocketAddr, opts: RequestOptions) {
        if self.start(now, test, to, opts).is_err() {
            self.on_timeout(now, test);
        }
    }

    fn on_answer(&mut self, now: Instant, test: Test, from: SocketAddr, msg: &Received) {
        let error = msg.error.as_ref().map(|(c, _)| *c);
        let server = self.config.server;
        match test {
            Test::One => {
                if let Some((code, reason)) = &msg.error {
                    let (code, reason) = (*code, reason.clone());
                    return self.finish_err(DiscoveryError::ServerError {
                        server,
                        code,
                        reason,
                    });
                }
                let Some(mapped) = msg.mapped else {
                    return self.finish_err(DiscoveryError::NoMappedAddress { server });
                };
                self.mapped = Some(mapped);
                self.samples.push(mapped);
                // Usable only if both IP and port differ from the primary (RFC 5780 §4.2).
                self.other = msg
                    .other
                    .filter(|o| o.ip() != server.ip() && o.port() != server.port());
                let no_nat = mapped == self.config.local;
                if no_nat {
                    self.mapping = Some(Mapping::NoNat);
                    self.hairpinning = Some(None);
                } else if self.config.hairpinning {
                    self.launch(now, Test::Hairpin, mapped, RequestOptions::default());
                } else {
                    self.hairpinning = Some(None);
                }
                if self.other.is_some() {
                    for (test, change) in [
                        (Test::FilteringTwo, (true, true)),
                        (Test::FilteringThree, (false, true)),
                    ] {
                        let opts = RequestOptions {
                            change: Some(change),
                            ..Default::default()
                        };
                        self.launch(now, test, server, opts);
                    }
                } else {
                    self.filtering = Some(Filtering::Unknown(UnknownReason::NoOtherAddress));
                    self.mapping
                        .get_or_insert(Mapping::Unknown(UnknownReason::NoOtherAddress));
                }
            }
            Test::FilteringTwo | Test::FilteringThree => {
                if let Some(code) = error {
                    self.decide_filtering(
                        now,
                        Filtering::Unknown(UnknownReason::ServerError(code)),
                    );
                } else if !changed_as_asked(test, server, from) {
                    self.decide_filtering(
                        now,
                        Filtering::Unknown(UnknownReason::ChangeRequestIgnored),
                    );
                } else {
                    self.filtering_answers[filtering_index(test)] = Some(true);
                    self.settle_filtering(now);
                }
            }
            Test::MappingTwo | Test::MappingThree => {
                self.samples.extend(msg.mapped.filter(|_| error.is_none()));
                let verdict = match (error, msg.mapped) {
                    (Some(code), _) => Some(Mapping::Unknown(UnknownReason::ServerError(code))),
                    (None, None) => Some(Mapping::Unknown(UnknownReason::NoMappedAddress)),
                    (None, Some(m)) if test == Test::MappingTwo => {
                        if Some(m) == self.mapped {
                            Some(Mapping::EndpointIndependent)
                        } else {
                            self.mapping_two = Some(m);
                            None
                        }
                    }
                    (None, Some(m)) if Some(m) == self.mapping_two => {
                        Some(Mapping::AddressDependent)
                    }
                    (None, Some(_)) => Some(Mapping::AddressAndPortDependent),
                };
                match (verdict, self.other) {
                    (Some(v), _) => self.mapping = Some(v),
                    (None, Some(other)) => {
                        self.launch(now, Test::MappingThree, other, RequestOptions::default())
                    }
                    // Unreachable: mapping tests run only with OTHER-ADDRESS.
                    (None, None) => {
                        self.mapping = Some(Mapping::Unknown(UnknownReason::NoOtherAddress))
                    }
                }
            }
            Test::Hairpin => self.hairpinning = Some(Some(true)),
        }
        self.maybe_finish();
    }

    fn on_timeout(&mut self, now: Instant, test: Test) {
        match test {
            Test::One => {
                let waited = self.config.transaction.total_timeout();
                let server = self.config.server;
                return self.finish_err(DiscoveryError::NoResponse { server, waited });
            }
            Test::FilteringTwo | Test::FilteringThree => {
                self.filtering_answers[filtering_index(test)] = Some(false);
                self.settle_filtering(now);
            }
            Test::MappingTwo | Test::MappingThree => {
                self.mapping = Some(Mapping::Unknown(UnknownReason::TimedOut));
            }
            Test::Hairpin => self.hairpinning = Some(Some(false)),
        }
        self.maybe_finish();
    }

    /// Turns the answers to filtering tests II and III into a verdict once they allow one.
    fn settle_filtering(&mut self, now: Instant) {
        let verdict = match self.filtering_answers {
            [Some(true), _] => Filtering::EndpointIndependent,
            [Some(false), Some(true)] => Filtering::AddressDependent,
            [Some(false), Some(false)] => Filtering::AddressAndPortDependent,
            _ => return, // II still in flight: its answer would overrule III's
        };
        self.decide_filtering(now, verdict);
    }

    /// Records the first filtering verdict and moves on. The other filtering test is left
    /// to finish, so that its answer is recognised (and not counted as a stray) when it
    /// arrives after the verdict.
    fn decide_filtering(&mut self, now: Instant, verdict: Filtering) {
        if self.filtering.is_some() {
            return;
        }
        self.filtering = Some(verdict);
        self.after_filtering(now);
    }

    /// Filtering is settled: run the mapping tests unless there is no NAT.
    fn after_filtering(&mut self, now: Instant) {
        if self.mapping.is_some() {
            return;
        }
        match self.other {
            Some(other) => {
                let to = SocketAddr::new(other.ip(), self.config.server.port());
                self.launch(now, Test::MappingTwo, to, RequestOptions::default());
            }
            None => self.mapping = Some(Mapping::Unknown(UnknownReason::NoOtherAddress)),
        }
    }

    fn maybe_finish(&mut self) {
        if self.result.is_some() {
            return;
        }
        if let (Some(mapped), Some(mapping), Some(filtering), Some(hairpinning)) =
            (self.mapped, self.mapping, self.filtering, self.hairpinning)
        {
            self.result = Some(Ok(NatReport {
                mapped,
                other_address: self.other,
                mapping,
                filtering,
                hairpinning,
                rtt: self.rtt,
            }));
        }
    }

    fn finish_err(&mut self, e: DiscoveryError) {
        self.result = Some(Err(e));
        for test in [
            Test::One,
            Test::FilteringTwo,
            Test::FilteringThree,
            Test::MappingTwo,
            Test::MappingThree,
            Test::Hairpin,
        ] {
            self.table.cancel(&self.ids[test as usize]);
        }
    }
}

fn filtering_index(test: Test) -> usize {
    usize::from(test == Test::FilteringThree)
}

/// True if a filtering test's answer came from where its CHANGE-REQUEST asked: test II
/// from the other IP and port, test III from the same IP and the other port.
fn changed_as_asked(test: Test, server: SocketAddr, from: SocketAddr) -> bool {
    let other_port = from.port() != server.port();
    match test {
        Test::FilteringTwo => from.ip() != server.ip() && other_port,
        _ => from.ip() == server.ip() && other_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::attr::Attribute;
    use crate::stun::builder::encode_to_vec;
    use crate::stun::MessageType;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn id(t: &Transmit) -> TransactionId {
        crate::stun::Message::parse(&t.bytes)
            .unwrap()
            .transaction_id()
    }

    fn answer(id: TransactionId, attrs: &[Attribute<'_>]) -> Vec<u8> {
        let ty = MessageType::new(Class::Success, Method::BINDING);
        encode_to_vec(ty, id, attrs, None, true).unwrap()
    }

    #[test]
    fn a_server_ignoring_change_request_yields_unknown_filtering() {
        let (server, alt) = (a("198.51.100.1:3478"), a("198.51.100.2:3479"));
        let mut config = DiscoveryConfig::new(server, a("10.0.0.2:5000"));
        config.hairpinning = false;
        let t0 = Instant::now();
        let mut d = NatDiscovery::new(t0, config, &mut StdRng::seed_from_u64(2)).unwrap();
        let one = d.poll_transmit().unwrap();
        assert_eq!(
            one.from,
            a("10.0.0.2:5000"),
            "sent from the configured socket"
        );
        let mapped = Attribute::XorMappedAddress(a("203.0.113.1:6000"));
        d.handle_input(
            t0,
            server,
            &answer(id(&one), &[mapped, Attribute::OtherAddress(alt)]),
        );
        let two = d.poll_transmit().unwrap();
        assert_eq!(two.to, server);
        let three = d.poll_transmit().unwrap();
        assert_eq!(three.to, server, "filtering II and III go out together");
        assert!(d.poll_transmit().is_none(), "hairpinning is off");
        // Answered from the primary despite "change IP and port".
        d.handle_input(t0, server, &answer(id(&two), &[mapped]));
        // Mapping tests follow: II to (alternate IP, primary port), then III to the alternate.
        let m2 = d.poll_transmit().unwrap();
        assert_eq!(m2.to, a("198.51.100.2:3478"));
        let other_mapping = Attribute::XorMappedAddress(a("203.0.113.1:6001"));
        d.handle_input(t0, m2.to, &answer(id(&m2), &[other_mapping]));
        let m3 = d.poll_transmit().unwrap();
        assert_eq!(m3.to, alt);
        d.handle_input(t0, alt, &answer(id(&m3), &[other_mapping]));
        let r = d.result().unwrap().as_ref().unwrap();
        assert_eq!(
            r.filtering,
            Filtering::Unknown(UnknownReason::ChangeRequestIgnored)
        );
        assert_eq!(r.mapping, Mapping::AddressDependent);
        assert_eq!(r.hairpinning, None);
        assert_eq!(r.rtt, Some(Duration::ZERO));
    }

    #[test]
    fn a_hairpinned_request_is_recognised_only_by_its_own_id() {
        let server = a("198.51.100.1:3478");
        let t0 = Instant::now();
        let config = DiscoveryConfig::new(server, a("10.0.0.2:5000"));
        let mut d = NatDiscovery::new(t0, config, &mut StdRng::seed_from_u64(4)).unwrap();
        let one = d.poll_transmit().unwrap();
        let me = a("203.0.113.1:6000");
        d.handle_input(
            t0,
            server,
            &answer(id(&one), &[Attribute::XorMappedAddress(me)]),
        );
        let hairpin = d.poll_transmit().unwrap();
        assert_eq!(hairpin.to, me);
        // Someone else's request: dropped. Our own: hairpinning works.
        d.handle_input(
            t0,
            me,
            &binding_request(TransactionId([1; 12]), Default::default()),
        );
        assert_eq!(d.dropped(), 1);
        assert!(!d.is_done(), "the report waits for the hairpin test");
        d.handle_input(t0, me, &hairpin.bytes);
        assert_eq!(d.dropped(), 1);
        let r = d.result().unwrap().as_ref().unwrap();
        assert_eq!(r.hairpinning, Some(true));
        assert_eq!(r.mapping, Mapping::Unknown(UnknownReason::NoOtherAddress));
    }
}
