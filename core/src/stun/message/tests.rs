//! Message parsing, ordering rules, verification and builder edge cases.

use super::*;
use crate::stun::MessageBuilder;

const TID: TransactionId = TransactionId([9; 12]);
const REQ: MessageType = MessageType::new(Class::Request, Method::BINDING);

fn build(f: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let mut b = MessageBuilder::new(&mut buf, REQ, TID).unwrap();
    f(&mut b);
    b.finish().to_vec()
}

/// Appends a raw attribute after whatever is there, fixing the length field.
fn append(mut m: Vec<u8>, typ: u16, value: &[u8]) -> Vec<u8> {
    m.extend_from_slice(&typ.to_be_bytes());
    m.extend_from_slice(&(value.len() as u16).to_be_bytes());
    m.extend_from_slice(value);
    m.resize(pad4(m.len()), 0);
    let len = (m.len() - HEADER_LEN) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

#[test]
fn header_errors() {
    let ok = build(|b| {
        b.add_software("x").unwrap();
    });
    assert!(Message::parse(&ok).is_ok());
    assert_eq!(
        Message::parse(&ok[..19]),
        Err(StunError::Truncated {
            needed: 20,
            actual: 19
        })
    );
    assert!(matches!(
        Message::parse(&ok[..ok.len() - 4]),
        Err(StunError::BadLength { .. })
    ));
    let mut trailing = ok.clone();
    trailing.push(0);
    assert!(matches!(
        Message::parse(&trailing),
        Err(StunError::BadLength { .. })
    ));
    let mut top = ok.clone();
    top[0] |= 0x40;
    assert_eq!(Message::parse(&top), Err(StunError::NotStun(0x40)));
    // RFC 3489: the cookie bytes are part of a random transaction ID.
    let mut classic = ok.clone();
    classic[4] = 0x12;
    assert!(matches!(
        Message::parse(&classic),
        Err(StunError::BadMagicCookie(_))
    ));
    assert!(StunError::BadMagicCookie(0)
        .to_string()
        .contains("RFC 3489"));
    let mut odd = ok.clone();
    odd[3] = 5;
    assert!(matches!(
        Message::parse(&odd),
        Err(StunError::BadLength { .. })
    ));
    // Attribute length running past the end.
    let mut overrun = ok.clone();
    overrun[23] = 200;
    assert!(matches!(
        Message::parse(&overrun),
        Err(StunError::AttributeOverrun { .. })
    ));
    // Short header inside the attribute area cannot happen with len % 4 == 0, but a
    // declared value length of 0 with a following partial TLV is fine to test via overrun.
    let empty = build(|_| {});
    let m = Message::parse(&empty).unwrap();
    assert_eq!(m.attributes().count(), 0);
    assert_eq!(m.method(), Method::BINDING);
    assert_eq!(m.class(), Class::Request);
    assert_eq!(m.as_bytes(), &empty[..]);
}

#[test]
fn attributes_after_integrity_are_ignored() {
    let key = b"key";
    let m = build(|b| {
        b.add_username("u")
            .unwrap()
            .add_message_integrity(key)
            .unwrap();
    });
    let m = append(m, attr::PRIORITY, &[0, 0, 0, 1]);
    let msg = Message::parse(&m).unwrap();
    assert_eq!(msg.priority().unwrap(), None);
    assert_eq!(msg.username().unwrap(), Some("u"));
    msg.verify_integrity(key).unwrap();
    let types: Vec<u16> = msg.attributes().map(|(t, _)| t).collect();
    assert_eq!(types, [attr::USERNAME, attr::MESSAGE_INTEGRITY]);
}

#[test]
fn sha256_and_fingerprint_after_integrity_count_and_verify() {
    let m = build(|b| {
        b.add_username("u").unwrap();
        b.add_message_integrity(b"k1").unwrap();
        b.add_message_integrity_sha256_truncated(b"k2", 16).unwrap();
        b.add_fingerprint().unwrap();
    });
    let msg = Message::parse(&m).unwrap();
    msg.verify_integrity(b"k1").unwrap();
    msg.verify_integrity_sha256(b"k2").unwrap();
    msg.verify_fingerprint().unwrap();
    assert_eq!(
        msg.verify_integrity_sha256(b"k1"),
        Err(StunError::IntegrityMismatch(attr::MESSAGE_INTEGRITY_SHA256))
    );
    assert_eq!(msg.message_integrity_sha256().unwrap().len(), 16);
    assert!(msg.fingerprint().is_some() && msg.message_integrity().is_some());
    assert_eq!(msg.attributes().count(), 4);
    // Anything after FINGERPRINT is ignored; the checks still hold.
    let m2 = append(m, attr::SOFTWARE, b"late");
    let msg = Message::parse(&m2).unwrap();
    assert_eq!(msg.software().unwrap(), None);
    msg.verify_fingerprint().unwrap();
    msg.verify_integrity(b"k1").unwrap();
}

#[test]
fn mi_sha256_only_and_full_length() {
    let m = build(|b| {
        b.add_message_integrity_sha256(b"k").unwrap();
    });
    let msg = Message::parse(&m).unwrap();
    msg.verify_integrity_sha256(b"k").unwrap();
    assert_eq!(
        msg.verify_integrity(b"k"),
        Err(StunError::MissingAttribute(attr::MESSAGE_INTEGRITY))
    );
    // MESSAGE-INTEGRITY after MESSAGE-INTEGRITY-SHA256 is ignored.
    let m = append(m, attr::MESSAGE_INTEGRITY, &[0; 20]);
    let msg = Message::parse(&m).unwrap();
    assert!(!msg.has_integrity());
}

#[test]
fn builder_enforces_order_and_space() {
    let mut buf = [0u8; 64];
    let mut b = MessageBuilder::new(&mut buf, REQ, TID).unwrap();
    b.add_fingerprint().unwrap();
    assert!(matches!(
        b.add_software("x"),
        Err(StunError::AttributeOrder { .. })
    ));
    assert!(matches!(
        b.add_message_integrity(b"k"),
        Err(StunError::AttributeOrder { .. })
    ));
    let mut buf = [0u8; 64];
    let mut b = MessageBuilder::new(&mut buf, REQ, TID).unwrap();
    b.add_message_integrity(b"k").unwrap();
    assert!(matches!(
        b.add_username("u"),
        Err(StunError::AttributeOrder { .. })
    ));
    assert_eq!(
        b.add(&Attribute::Fingerprint(1)).unwrap_err(),
        StunError::ComputedAttribute(attr::FINGERPRINT)
    );
    // 20 header + 24 MI = 44; FINGERPRINT needs 52 <= 64; SHA256 would need 80.
    assert!(matches!(
        b.add_message_integrity_sha256(b"k"),
        Err(StunError::BufferTooSmall { needed: 80, .. })
    ));
    b.add_fingerprint().unwrap();
    assert_eq!(b.as_bytes().len(), 52);
    let mut tiny = [0u8; 19];
    assert!(MessageBuilder::new(&mut tiny, REQ, TID).is_err());
    let mut small = [0u8; 24];
    let mut b = MessageBuilder::new(&mut small, REQ, TID).unwrap();
    assert!(matches!(
        b.add_software("toolong"),
        Err(StunError::BufferTooSmall { .. })
    ));
    // Failed add wrote nothing.
    assert_eq!(b.finish().len(), 20);
}

#[test]
fn unknown_comprehension_required_and_420() {
    let m = build(|b| {
        b.add_raw(0x7001, b"x").unwrap();
        b.add_raw(0xc001, b"y").unwrap();
        b.add_raw(0x0042, b"").unwrap();
        b.add_software("ok").unwrap();
    });
    let req = Message::parse(&m).unwrap();
    assert!(req.has_unknown_comprehension_required());
    assert_eq!(
        req.unknown_comprehension_required().collect::<Vec<_>>(),
        [0x7001, 0x0042]
    );
    let mut out = [0u8; 128];
    let resp = MessageBuilder::unknown_attributes_response(&mut out, &req)
        .unwrap()
        .unwrap();
    let resp = Message::parse(resp.finish()).unwrap();
    assert_eq!(resp.class(), Class::Error);
    assert_eq!(resp.transaction_id(), TID);
    assert_eq!(resp.error_code().unwrap().unwrap().code, 420);
    assert_eq!(
        resp.unknown_attributes()
            .unwrap()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [0x7001, 0x0042]
    );
    // A clean request needs no 420.
    let clean = build(|b| {
        b.add_software("ok").unwrap();
    });
    let mut out = [0u8; 128];
    assert!(MessageBuilder::unknown_attributes_response(
        &mut out,
        &Message::parse(&clean).unwrap()
    )
    .unwrap()
    .is_none());
}

#[test]
fn typed_getters_report_malformed_values() {
    let m = build(|b| {
        b.add_raw(attr::PRIORITY, &[1, 2]).unwrap();
        b.add_raw(attr::XOR_MAPPED_ADDRESS, &[0, 9, 0, 0, 1, 2, 3, 4])
            .unwrap();
    });
    let msg = Message::parse(&m).unwrap();
    assert!(matches!(
        msg.priority(),
        Err(StunError::BadAttribute {
            typ: attr::PRIORITY,
            ..
        })
    ));
    assert!(msg.xor_mapped_address().is_err());
    assert_eq!(msg.typed_attributes().filter(|a| a.is_err()).count(), 2);
    assert_eq!(msg.lifetime().unwrap(), None);
    assert!(!msg.use_candidate().unwrap());
}

#[test]
fn get_agrees_with_the_visible_attribute_walk() {
    // Duplicates and specials in every awkward place: `get` must return exactly what the
    // first match of `attributes()` returns (same visibility rules, no separate logic drift).
    let mut cases = vec![build(|b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::Priority(2)).unwrap();
        b.add_username("u").unwrap();
        b.add_message_integrity(b"k").unwrap();
        b.add_message_integrity_sha256_truncated(b"k", 16).unwrap();
        b.add_fingerprint().unwrap();
    })];
    let base = build(|b| {
        b.add_username("u").unwrap();
    });
    let mi = [0u8; 20];
    let mi256 = [0u8; 16];
    let after = [
        (attr::MESSAGE_INTEGRITY, &mi[..]),
        (attr::MESSAGE_INTEGRITY_SHA256, &mi256[..]),
        (attr::FINGERPRINT, &[0u8; 4][..]),
        (attr::PRIORITY, &[0, 0, 0, 7][..]),
        (attr::USERNAME, &b"late"[..]),
    ];
    // Every ordered pair and triple of `after` appended to `base`.
    for a in after {
        for b in after {
            cases.push(append(append(base.clone(), a.0, a.1), b.0, b.1));
            for c in after {
                cases.push(append(
                    append(append(base.clone(), a.0, a.1), b.0, b.1),
                    c.0,
                    c.1,
                ));
            }
        }
    }
    let types = [
        attr::USERNAME,
        attr::PRIORITY,
        attr::MESSAGE_INTEGRITY,
        attr::MESSAGE_INTEGRITY_SHA256,
        attr::FINGERPRINT,
        attr::SOFTWARE,
    ];
    for m in &cases {
        let msg = Message::parse(m).unwrap();
        let oracle = spec_visible(m);
        let walked: Vec<(u16, &[u8])> = msg.attributes().collect();
        assert_eq!(walked, oracle, "attributes() in {m:02x?}");
        for t in types {
            let first = oracle.iter().find(|(x, _)| *x == t).map(|(_, v)| *v);
            assert_eq!(msg.get(t), first, "get({t:#06x}) in {m:02x?}");
        }
    }
}

/// RFC 8489 §14.5-14.7 visibility written as plainly as possible, as a test oracle: after
/// MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count, after
/// MESSAGE-INTEGRITY-SHA256 only FINGERPRINT, after FINGERPRINT nothing.
fn spec_visible(m: &[u8]) -> Vec<(u16, &[u8])> {
    let (mut mi, mut mi256, mut fp) = (false, false, false);
    let mut out = Vec::new();
    let mut off = HEADER_LEN;
    while off < m.len() {
        let t = u16::from_be_bytes([m[off], m[off + 1]]);
        let len = u16::from_be_bytes([m[off + 2], m[off + 3]]) as usize;
        let counts = !fp
            && match t {
                attr::FINGERPRINT => true,
                attr::MESSAGE_INTEGRITY_SHA256 => !mi256,
                attr::MESSAGE_INTEGRITY => !mi && !mi256,
                _ => !mi && !mi256,
            };
        if counts {
            out.push((t, &m[off + 4..off + 4 + len]));
            match t {
                attr::FINGERPRINT => fp = true,
                attr::MESSAGE_INTEGRITY_SHA256 => mi256 = true,
                attr::MESSAGE_INTEGRITY => mi = true,
                _ => {}
            }
        }
        off += 4 + pad4(len);
    }
    out
}
