//! Calls every accessor and verification of a parsed STUN message. Whatever the bytes,
//! none may panic: network input only ever produces a `StunError`. Shared by the
//! property tests (core/tests/stun_proptest.rs) and the fuzz target
//! (fuzz/fuzz_targets/stun_parse.rs), both through `#[path]`.

use pinhole::stun::Message;

pub fn walk(m: &Message<'_>, key: &[u8]) {
    let _ = (m.message_type(), m.class(), m.method());
    let _ = (m.transaction_id(), m.as_bytes());
    for (t, v) in m.attributes() {
        assert!(
            m.get(t).is_some(),
            "attribute {t:#06x} listed but not found"
        );
        let _ = v.len();
    }
    for a in m.typed_attributes().flatten() {
        let _ = a.value_len();
    }
    let _ = m.unknown_comprehension_required().count();
    let _ = m.has_unknown_comprehension_required();
    let _ = (
        m.mapped_address(),
        m.xor_mapped_address(),
        m.alternate_server(),
        m.response_origin(),
    );
    let _ = (
        m.other_address(),
        m.xor_peer_address(),
        m.xor_relayed_address(),
        m.xor_peer_addresses().count(),
    );
    let _ = (
        m.username(),
        m.userhash(),
        m.realm(),
        m.nonce(),
        m.software(),
        m.alternate_domain(),
    );
    let _ = (
        m.error_code(),
        m.priority(),
        m.use_candidate(),
        m.ice_controlled(),
        m.ice_controlling(),
    );
    if let Ok(Some(l)) = m.unknown_attributes() {
        let _ = l.iter().count();
    }
    if let Ok(Some(l)) = m.password_algorithms() {
        let _ = l.iter().count();
    }
    let _ = (
        m.password_algorithm(),
        m.change_request(),
        m.response_port(),
        m.padding(),
        m.channel_number(),
    );
    let _ = (
        m.lifetime(),
        m.data(),
        m.requested_address_family(),
        m.additional_address_family(),
    );
    let _ = (
        m.even_port(),
        m.requested_transport(),
        m.dont_fragment(),
        m.reservation_token(),
    );
    let _ = (
        m.address_error_code(),
        m.icmp(),
        m.message_integrity(),
        m.message_integrity_sha256(),
        m.fingerprint(),
    );
    let _ = (
        m.verify_integrity(key),
        m.verify_integrity_sha256(key),
        m.verify_fingerprint(),
    );
}
