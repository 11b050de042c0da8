//! The mapper's counters: what it sent, what it got, and what it dropped and why.

/// Counters of one [`PortMapper`](super::PortMapper). Hostile or malformed input is
/// dropped and counted here; it never fails a protocol by itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortMapStats {
    /// Datagrams handed to the pump (NAT-PMP, PCP, SSDP).
    pub datagrams_sent: u64,
    /// Datagrams the mapper accepted as its own (well-formed, expected).
    pub datagrams_accepted: u64,
    /// Too short, wrong length, bad version or unparsable.
    pub dropped_malformed: u64,
    /// From an address other than the gateway's (or an SSDP LOCATION elsewhere).
    pub dropped_wrong_source: u64,
    /// A PCP answer whose nonce is not ours.
    pub dropped_wrong_nonce: u64,
    /// An answer with an opcode we did not ask for (or a request, not a response).
    pub dropped_wrong_opcode: u64,
    /// Well-formed but unexpected: nothing outstanding, another port, a late duplicate.
    pub dropped_unexpected: u64,
    /// HTTP answers over the size caps (headers, description, SOAP body).
    pub dropped_oversized: u64,
    /// Times an epoch showed that the gateway lost its state.
    pub epoch_resets: u64,
    /// Unsolicited PCP ANNOUNCE messages received.
    pub announces: u64,
    /// Renewals that kept the mapping.
    pub renewals: u64,
    /// HTTP exchanges started (UPnP description and SOAP).
    pub http_exchanges: u64,
    /// HTTP exchanges that failed (connect, timeout, bad status, SOAP fault).
    pub http_failures: u64,
}
