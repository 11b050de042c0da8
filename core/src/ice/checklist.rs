//! One data stream's checklist (RFC 8445 §6.1.2), without I/O or timers.
//!
//! The [`CheckList`] owns the local and remote candidates and the pairs formed
//! from them. Adding a candidate on either side (initially or by trickle)
//! forms its pairs (§6.1.2.2), replaces a srflx local candidate with its base,
//! prunes redundant pairs (§6.1.2.4), keeps the list ordered by pair priority
//! (§6.1.2.3) and enforces the pair cap (§6.1.2.5) by dropping the
//! lowest-priority pairs. [`CheckList::unfreeze_initial`] performs §6.1.2.6
//! (the agent unfreezes lazily instead).
//!
//! Checks, triggered-check queues, nomination and the valid list belong to
//! the agent built on top; it moves pairs through [`PairState`] with
//! [`CheckList::set_state`].

use super::candidate::{Candidate, CandidateAddress, CandidateType};
use super::pair::{
    can_pair, replaced_by_base, same_remote, CandidatePair, LocalCandidate, LocalId,
    PairFoundation, PairState, RemoteId,
};
use super::priority::pair_priority_for;

/// Limits for one checklist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckListConfig {
    /// Most pairs kept (RFC 8445 §6.1.2.5 suggests 100). Beyond it the
    /// lowest-priority pairs that are not in progress or succeeded are dropped.
    pub max_pairs: usize,
    /// Most remote candidates accepted; a peer sending more is broken or hostile.
    pub max_remote_candidates: usize,
}

impl Default for CheckListConfig {
    fn default() -> Self {
        CheckListConfig {
            max_pairs: 100,
            max_remote_candidates: 100,
        }
    }
}

/// Why a remote candidate was not added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckListError {
    /// The remote candidate cap was reached.
    #[error("remote candidate rejected: the peer already sent {limit} candidates, the most this checklist accepts")]
    TooManyRemoteCandidates {
        /// The configured cap.
        limit: usize,
    },
    /// The address is an mDNS name; resolve it and add the resolved candidate.
    #[error("remote candidate address \"{0}\" is an mDNS name: resolve it to an IP address before adding the candidate")]
    UnresolvedMdns(String),
}

/// The pairs of one data stream, highest priority first.
#[derive(Clone, Debug)]
pub(crate) struct CheckList {
    config: CheckListConfig,
    controlling: bool,
    locals: Vec<LocalCandidate>,
    /// Locals whose socket went away: they keep their id but pair no more.
    retired: Vec<bool>,
    remotes: Vec<Candidate>,
    pairs: Vec<CandidatePair>,
}

impl CheckList {
    /// An empty checklist for an agent in the given role.
    pub(crate) fn new(config: CheckListConfig, controlling: bool) -> Self {
        CheckList {
            config,
            controlling,
            locals: Vec::new(),
            retired: Vec::new(),
            remotes: Vec::new(),
            pairs: Vec::new(),
        }
    }

    /// Whether pair priorities are computed as the controlling agent.
    #[cfg(test)]
    pub(crate) fn is_controlling(&self) -> bool {
        self.controlling
    }

    /// Changes role (after a role conflict, §7.3.1.1): recomputes every pair
    /// priority and re-sorts.
    pub(crate) fn set_controlling(&mut self, controlling: bool) {
        self.controlling = controlling;
        for i in 0..self.pairs.len() {
            let (l, r) = (self.pairs[i].local, self.pairs[i].remote);
            self.pairs[i].priority = self.priority_of(l, r);
        }
        self.pairs.sort_by_key(|p| std::cmp::Reverse(p.priority));
    }

    /// Adds a local candidate and pairs it with every compatible remote one.
    pub(crate) fn add_local(&mut self, local: LocalCandidate) -> LocalId {
        let id = LocalId(self.locals.len());
        self.locals.push(local);
        self.retired.push(false);
        for r in 0..self.remotes.len() {
            self.try_form(id, RemoteId(r));
        }
        id
    }

    /// Adds a local candidate paired with `remote` only (or with nothing yet): a socket
    /// opened for one peer address, such as a hard-NAT punching socket that a check
    /// reached. Remote candidates added later pair with it as usual.
    pub(crate) fn add_local_for(
        &mut self,
        local: LocalCandidate,
        remote: Option<RemoteId>,
    ) -> LocalId {
        let id = LocalId(self.locals.len());
        self.locals.push(local);
        self.retired.push(false);
        if let Some(r) = remote.filter(|r| r.0 < self.remotes.len()) {
            self.try_form(id, r);
        }
        id
    }

    /// Adds a remote candidate and pairs it with every compatible local one.
    /// A candidate identical to one already known (same transport address,
    /// transport and component) is not added again: its existing id is returned.
    pub(crate) fn add_remote(&mut self, remote: Candidate) -> Result<RemoteId, CheckListError> {
        self.add_remote_paired(remote, None)
    }

    /// [`Self::add_remote`], but a new candidate is paired with `local` only
    /// (a peer-reflexive remote learned from a check on one local candidate).
    pub(crate) fn add_remote_for(
        &mut self,
        remote: Candidate,
        local: LocalId,
    ) -> Result<RemoteId, CheckListError> {
        self.add_remote_paired(remote, Some(local))
    }

    fn add_remote_paired(
        &mut self,
        remote: Candidate,
        only: Option<LocalId>,
    ) -> Result<RemoteId, CheckListError> {
        if let CandidateAddress::Mdns(name) = &remote.address {
            return Err(CheckListError::UnresolvedMdns(name.clone()));
        }
        if let Some(i) = self.remotes.iter().position(|r| same_remote(r, &remote)) {
            return Ok(RemoteId(i));
        }
        if self.remotes.len() >= self.config.max_remote_candidates {
            return Err(CheckListError::TooManyRemoteCandidates {
                limit: self.config.max_remote_candidates,
            });
        }
        let id = RemoteId(self.remotes.len());
        self.remotes.push(remote);
        for l in 0..self.locals.len() {
            if only.iter().all(|o| o.0 == l) {
                self.try_form(LocalId(l), id);
            }
        }
        Ok(id)
    }

    /// The peer signaled a candidate this list learned earlier as peer-reflexive
    /// (its check raced ahead of the signaling): the signaled candidate replaces the
    /// prflx one in place (RFC 8838 §11, as libwebrtc does), so that its type,
    /// foundation and priority are the signaled ones. Returns whether it replaced one.
    pub(crate) fn replace_peer_reflexive(&mut self, id: RemoteId, signaled: Candidate) -> bool {
        let old = &self.remotes[id.0];
        if old.kind != CandidateType::PeerReflexive
            || signaled.kind == CandidateType::PeerReflexive
            || !same_remote(old, &signaled)
        {
            return false;
        }
        self.remotes[id.0] = signaled;
        for i in 0..self.pairs.len() {
            if self.pairs[i].remote == id {
                let l = self.pairs[i].local;
                self.pairs[i].priority = self.priority_of(l, id);
                self.pairs[i].foundation.remote = self.remotes[id.0].foundation.clone();
            }
        }
        self.pairs.sort_by_key(|p| std::cmp::Reverse(p.priority));
        true
    }

    /// The pairs, highest priority first.
    pub(crate) fn pairs(&self) -> &[CandidatePair] {
        &self.pairs
    }

    /// All local candidates, indexed by [`LocalId`].
    pub(crate) fn locals(&self) -> &[LocalCandidate] {
        &self.locals
    }

    /// All remote candidates, indexed by [`RemoteId`].
    pub(crate) fn remotes(&self) -> &[Candidate] {
        &self.remotes
    }

    /// One local candidate.
    pub(crate) fn local(&self, id: LocalId) -> &LocalCandidate {
        &self.locals[id.0]
    }

    /// One remote candidate.
    pub(crate) fn remote(&self, id: RemoteId) -> &Candidate {
        &self.remotes[id.0]
    }

    /// The pair of `local` and `remote`, if it is in the list.
    pub(crate) fn pair(&self, local: LocalId, remote: RemoteId) -> Option<&CandidatePair> {
        self.pairs
            .iter()
            .find(|p| p.local == local && p.remote == remote)
    }

    /// Sets a pair's state; `false` if the pair is not in the list.
    pub(crate) fn set_state(&mut self, local: LocalId, remote: RemoteId, state: PairState) -> bool {
        match self
            .pairs
            .iter_mut()
            .find(|p| p.local == local && p.remote == remote)
        {
            Some(p) => {
                p.state = state;
                true
            }
            None => false,
        }
    }

    /// Retires every local candidate whose base is `base` (its socket went
    /// away, e.g. on a network change): their pairs are removed, whatever
    /// their state, and they form no new pairs. Ids stay valid. Returns the
    /// retired ids.
    pub(crate) fn retire_base(&mut self, base: std::net::SocketAddr) -> Vec<LocalId> {
        let ids: Vec<LocalId> = (0..self.locals.len())
            .filter(|&i| !self.retired[i] && self.locals[i].base == base)
            .map(LocalId)
            .collect();
        for id in &ids {
            self.retired[id.0] = true;
        }
        self.pairs.retain(|p| !self.retired[p.local.0]);
        ids
    }

    /// Whether a local candidate was retired by [`CheckList::retire_base`].
    pub(crate) fn is_retired(&self, id: LocalId) -> bool {
        self.retired.get(id.0).copied().unwrap_or(true)
    }

    /// Initial check-list states (§6.1.2.6): for every pair foundation, the
    /// frozen pair with the lowest component ID — the highest-priority one
    /// among equals — becomes Waiting. Returns how many pairs changed. The agent
    /// unfreezes lazily instead (see checks.rs); this is the RFC's eager form, kept for
    /// the tests that pin the foundation rules.
    #[cfg(test)]
    pub(crate) fn unfreeze_initial(&mut self) -> usize {
        let mut chosen: Vec<(PairFoundation, usize)> = Vec::new();
        for (i, p) in self.pairs.iter().enumerate() {
            if p.state != PairState::Frozen {
                continue;
            }
            match chosen.iter_mut().find(|(f, _)| *f == p.foundation) {
                // Pairs are sorted by priority, so the first seen wins ties.
                Some((_, best)) if p.component < self.pairs[*best].component => *best = i,
                Some(_) => {}
                None => chosen.push((p.foundation.clone(), i)),
            }
        }
        for (_, i) in &chosen {
            self.pairs[*i].state = PairState::Waiting;
        }
        chosen.len()
    }

    /// Sets every frozen pair with this foundation to Waiting (as §7.2.5.3.3
    /// does once a pair of the foundation succeeds). Returns how many changed.
    pub(crate) fn unfreeze_foundation(&mut self, foundation: &PairFoundation) -> usize {
        let mut n = 0;
        for p in self
            .pairs
            .iter_mut()
            .filter(|p| p.state == PairState::Frozen && p.foundation == *foundation)
        {
            p.state = PairState::Waiting;
            n += 1;
        }
        n
    }

    fn priority_of(&self, local: LocalId, remote: RemoteId) -> u64 {
        pair_priority_for(
            self.controlling,
            self.locals[local.0].candidate.priority,
            self.remotes[remote.0].priority,
        )
    }

    /// Forms, prunes and inserts the pair of `local` and `remote`.
    fn try_form(&mut self, local: LocalId, remote: RemoteId) {
        if self.retired[local.0] || !can_pair(&self.locals[local.0], &self.remotes[remote.0]) {
            return;
        }
        let local = self.substitute_base(local);
        let priority = self.priority_of(local, remote);

        // §6.1.2.4: same local base and same remote candidate is redundant;
        // keep the higher priority. An existing pair is only replaced while
        // nothing has been sent on it (Frozen or Waiting).
        let base = self.locals[local.0].base;
        let transport = self.locals[local.0].candidate.transport;
        if let Some(pos) = self.pairs.iter().position(|p| {
            p.remote == remote
                && self.locals[p.local.0].base == base
                && self.locals[p.local.0].candidate.transport == transport
        }) {
            let existing = &self.pairs[pos];
            let replaceable = matches!(existing.state, PairState::Frozen | PairState::Waiting);
            if existing.priority >= priority || !replaceable {
                return;
            }
            self.pairs.remove(pos);
        }

        let pair = CandidatePair {
            local,
            remote,
            component: self.remotes[remote.0].component,
            priority,
            state: PairState::Frozen,
            foundation: PairFoundation {
                local: self.locals[local.0].candidate.foundation.clone(),
                remote: self.remotes[remote.0].foundation.clone(),
            },
        };
        let at = self.pairs.partition_point(|p| p.priority >= priority);
        self.pairs.insert(at, pair);
        self.enforce_cap();
    }

    /// A srflx local candidate is replaced by the host candidate that is its
    /// base (same address, component and transport), when the agent has one.
    fn substitute_base(&self, local: LocalId) -> LocalId {
        let l = &self.locals[local.0];
        if !replaced_by_base(l) {
            return local;
        }
        self.locals
            .iter()
            .enumerate()
            .position(|(i, h)| {
                !self.retired[i]
                    && h.candidate.kind == super::candidate::CandidateType::Host
                    && h.base == l.base
                    && h.candidate.component == l.candidate.component
                    && h.candidate.transport == l.candidate.transport
                    && h.candidate.tcp_type == l.candidate.tcp_type
            })
            .map_or(local, LocalId)
    }

    /// Drops the lowest-priority droppable pairs beyond `max_pairs`.
    fn enforce_cap(&mut self) {
        while self.pairs.len() > self.config.max_pairs {
            let Some(victim) = self
                .pairs
                .iter()
                .rposition(|p| !matches!(p.state, PairState::InProgress | PairState::Succeeded))
            else {
                return;
            };
            self.pairs.remove(victim);
        }
    }
}

#[cfg(test)]
#[path = "checklist_tests.rs"]
mod tests;
