//! Parses arbitrary bytes as STUN, then walks every accessor and verification.
//! Any panic, overflow or out-of-bounds access is a bug: network input must only ever
//! produce a `StunError`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::stun::Message;

const KEY: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::parse(data) else {
        return;
    };
    let _ = (
        m.message_type(),
        m.class(),
        m.method(),
        m.transaction_id(),
        m.as_bytes(),
    );
    for (t, v) in m.attributes() {
        assert!(m.get(t).is_some());
        let _ = v.len();
    }
    for a in m.typed_attributes() {
        if let Ok(a) = a {
            let _ = a.value_len();
        }
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
    );
    let _ = m.xor_peer_addresses().count();
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
    );
    let _ = (
        m.channel_number(),
        m.lifetime(),
        m.data(),
        m.requested_address_family(),
    );
    let _ = (
        m.additional_address_family(),
        m.even_port(),
        m.requested_transport(),
        m.dont_fragment(),
    );
    let _ = (m.reservation_token(), m.address_error_code(), m.icmp());
    let _ = (
        m.message_integrity(),
        m.message_integrity_sha256(),
        m.fingerprint(),
    );
    let _ = m.verify_integrity(KEY);
    let _ = m.verify_integrity_sha256(KEY);
    let _ = m.verify_fingerprint();
});
