//! STUN codec throughput: Pinhole vs webrtc-rs's `stun` crate vs the bare crypto floor, on a
//! typical ICE Binding request (USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE,
//! MESSAGE-INTEGRITY, FINGERPRINT), all in the same run. See BENCHMARKS.md.
//!
//! Groups:
//! - `decode_verify`: parse, read the four ICE attributes, verify MESSAGE-INTEGRITY and
//!   FINGERPRINT.
//! - `encode`: build the same message (header, four attributes, MESSAGE-INTEGRITY,
//!   FINGERPRINT) into a reused buffer / reused `Message`.
//!
//! Each group has `pinhole/raw_key` and `bare/raw_key` (the HMAC key is set up per message: the
//! honest ICE case), `pinhole/prepared_key` and `bare/prepared_key` (the HMAC-SHA1 key pads are
//! precomputed once, as with `IntegrityKey`), and `webrtc-rs` (which has no prepared-key API and
//! sets up the key on every call).
//!
//! Before anything is timed, `cross_check` asserts that all encoders produce identical bytes and
//! that every decoder accepts every encoder's output with the same field values.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use pinhole::stun::{
    Attribute, Class, IntegrityKey, Message, MessageBuilder, MessageType, Method, TransactionId,
};

use stun::attributes::{ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USERNAME, ATTR_USE_CANDIDATE};
use stun::fingerprint::FINGERPRINT;
use stun::integrity::MessageIntegrity;
use stun::message::{Message as WMessage, Setter, BINDING_REQUEST};
use stun::textattrs::TextAttribute;

type HmacSha1 = Hmac<Sha1>;

// Realistic ICE values (RFC 8445 / libwebrtc style).
const TID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];
const USERNAME: &str = "abcd:efgh"; // remote-ufrag:local-ufrag
const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt3Q"; // 24 chars (ICE requires >= 22)
const PRIORITY: u32 = 1_853_817_087;
const TIE_BREAKER: u64 = 0x932f_f9b1_5126_3b36;
const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// What every decoder must hand back: (username, priority, tie-breaker, use-candidate).
type Fields = (String, u32, u64, bool);

fn expected_fields() -> Fields {
    (USERNAME.to_owned(), PRIORITY, TIE_BREAKER, true)
}

// ---------------------------------------------------------------------------------------------
// Pinhole
// ---------------------------------------------------------------------------------------------

fn binding_request() -> MessageType {
    MessageType::new(Class::Request, Method::BINDING)
}

enum PKey<'k> {
    Raw(&'k [u8]),
    Prepared(&'k IntegrityKey),
}

#[inline(always)]
fn pinhole_encode<'b>(buf: &'b mut [u8], key: &PKey<'_>) -> &'b [u8] {
    let mut b = MessageBuilder::new(buf, binding_request(), TransactionId(TID)).unwrap();
    b.add(&Attribute::Username(USERNAME))
        .unwrap()
        .add(&Attribute::Priority(PRIORITY))
        .unwrap()
        .add(&Attribute::IceControlling(TIE_BREAKER))
        .unwrap()
        .add(&Attribute::UseCandidate)
        .unwrap();
    match key {
        PKey::Raw(k) => b.add_message_integrity(k).unwrap(),
        PKey::Prepared(k) => b.add_message_integrity_key(k).unwrap(),
    };
    b.add_fingerprint().unwrap();
    b.finish()
}

/// Returns the fields borrowed from the datagram; `None` on any failure.
#[inline(always)]
fn pinhole_decode<'a>(buf: &'a [u8], key: &PKey<'_>) -> Option<(&'a str, u32, u64, bool)> {
    let m = Message::parse(buf).ok()?;
    let username = m.username().ok()??;
    let priority = m.priority().ok()??;
    let tie = m.ice_controlling().ok()??;
    let use_candidate = m.use_candidate().ok()?;
    match key {
        PKey::Raw(k) => m.verify_integrity(k).ok()?,
        PKey::Prepared(k) => m.verify_integrity_key(k).ok()?,
    }
    m.verify_fingerprint().ok()?;
    Some((username, priority, tie, use_candidate))
}

// ---------------------------------------------------------------------------------------------
// webrtc-rs `stun`
// ---------------------------------------------------------------------------------------------

/// Re-builds the message in a reused `Message` (its `raw` and attribute `Vec`s keep their
/// capacity); the setters are prepared once outside the loop, and called directly (no
/// `Box<dyn Setter>` per attribute as `Message::build` would need).
#[inline(always)]
fn webrtc_encode(m: &mut WMessage, username: &TextAttribute, mi: &MessageIntegrity) {
    m.reset();
    m.typ = BINDING_REQUEST;
    m.transaction_id.0 = TID;
    m.write_header();
    username.add_to(m).unwrap();
    m.add(ATTR_PRIORITY, &PRIORITY.to_be_bytes());
    m.add(ATTR_ICE_CONTROLLING, &TIE_BREAKER.to_be_bytes());
    m.add(ATTR_USE_CANDIDATE, &[]);
    mi.add_to(m).unwrap();
    FINGERPRINT.add_to(m).unwrap();
}

/// Decodes into a reused `Message`, reads the same attributes, checks MI and FINGERPRINT.
#[inline(always)]
fn webrtc_decode(m: &mut WMessage, buf: &[u8], mi: &MessageIntegrity) -> Option<Fields> {
    m.unmarshal_binary(buf).ok()?;
    let username = TextAttribute::get_from_as(m, ATTR_USERNAME).ok()?;
    let p = m.get(ATTR_PRIORITY).ok()?;
    let priority = u32::from_be_bytes(p.as_slice().try_into().ok()?);
    let t = m.get(ATTR_ICE_CONTROLLING).ok()?;
    let tie = u64::from_be_bytes(t.as_slice().try_into().ok()?);
    let use_candidate = m.contains(ATTR_USE_CANDIDATE);
    mi.check(m).ok()?;
    FINGERPRINT.check(m).ok()?;
    Some((username.text, priority, tie, use_candidate))
}

// ---------------------------------------------------------------------------------------------
// Bare floor: only HMAC-SHA1 and CRC-32 over exactly the bytes RFC 8489 §14.5/§14.7 cover,
// with the same crates Pinhole uses. `mi` is the MESSAGE-INTEGRITY attribute offset and `fp`
// the FINGERPRINT offset, known in advance (which no real decoder can assume).
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Layout {
    mi: usize,
    fp: usize,
}

enum BKey<'k> {
    Raw(&'k [u8]),
    Prepared(&'k HmacSha1),
}

#[inline(always)]
fn bare_mac(key: &BKey<'_>) -> HmacSha1 {
    match key {
        BKey::Raw(k) => HmacSha1::new_from_slice(k).unwrap(),
        BKey::Prepared(s) => (*s).clone(),
    }
}

/// HMAC over the header (length patched to end at MI) + attributes before MI, CRC over
/// everything before FINGERPRINT; compare both.
#[inline(always)]
fn bare_verify(buf: &[u8], l: Layout, key: &BKey<'_>) -> bool {
    let mut hdr = [0u8; 20];
    hdr.copy_from_slice(&buf[..20]);
    hdr[2..4].copy_from_slice(&((l.mi + 24 - 20) as u16).to_be_bytes());
    let mut mac = bare_mac(key);
    mac.update(&hdr);
    mac.update(&buf[20..l.mi]);
    let mi_ok = mac.verify_slice(&buf[l.mi + 4..l.mi + 24]).is_ok();
    // FINGERPRINT is last, so the length field already covers it: no patch needed.
    let crc = crc32fast::hash(&buf[..l.fp]) ^ FINGERPRINT_XOR;
    let carried = u32::from_be_bytes(buf[l.fp + 4..l.fp + 8].try_into().unwrap());
    mi_ok && crc == carried
}

/// Given `buf` already holding the header and attributes (as a template), compute and write
/// MESSAGE-INTEGRITY and FINGERPRINT, setting the length field as each requires.
#[inline(always)]
fn bare_sign(buf: &mut [u8], l: Layout, key: &BKey<'_>) {
    buf[2..4].copy_from_slice(&((l.mi + 24 - 20) as u16).to_be_bytes());
    let mut mac = bare_mac(key);
    mac.update(&buf[..l.mi]);
    let tag = mac.finalize().into_bytes();
    buf[l.mi + 4..l.mi + 24].copy_from_slice(&tag);
    buf[2..4].copy_from_slice(&((l.fp + 8 - 20) as u16).to_be_bytes());
    let crc = crc32fast::hash(&buf[..l.fp]) ^ FINGERPRINT_XOR;
    buf[l.fp + 4..l.fp + 8].copy_from_slice(&crc.to_be_bytes());
}

// ---------------------------------------------------------------------------------------------
// Equal work on identical bytes: checked once, before timing.
// ---------------------------------------------------------------------------------------------

fn cross_check() -> (Vec<u8>, Layout) {
    let key = PASSWORD.as_bytes();
    let pkey = IntegrityKey::short_term(PASSWORD).unwrap();
    let mi = MessageIntegrity::new_short_term_integrity(PASSWORD.to_owned());
    let uname = TextAttribute::new(ATTR_USERNAME, USERNAME.to_owned());

    let mut buf = [0u8; 256];
    let p_raw = pinhole_encode(&mut buf, &PKey::Raw(key)).to_vec();
    let p_prep = pinhole_encode(&mut buf, &PKey::Prepared(&pkey)).to_vec();
    assert_eq!(
        p_raw, p_prep,
        "prepared-key encode differs from raw-key encode"
    );

    let mut wm = WMessage::new();
    webrtc_encode(&mut wm, &uname, &mi);
    let w_bytes = wm.raw.clone();
    // Re-encoding into the reused Message must give the same bytes again.
    webrtc_encode(&mut wm, &uname, &mi);
    assert_eq!(
        wm.raw, w_bytes,
        "webrtc-rs re-encode into a reused Message differs"
    );
    assert_eq!(
        p_raw, w_bytes,
        "pinhole and webrtc-rs encode different bytes:\n{p_raw:02x?}\n{w_bytes:02x?}"
    );

    // Layout (USERNAME 9 -> 12 padded): 20 + 16 + 8 + 12 + 4 = 60 for MI, 84 for FINGERPRINT.
    let layout = Layout { mi: 60, fp: 84 };
    assert_eq!(p_raw.len(), 92);
    assert_eq!(u16::from_be_bytes([p_raw[60], p_raw[61]]), 0x0008);
    assert_eq!(u16::from_be_bytes([p_raw[84], p_raw[85]]), 0x8028);

    // The bare signer, from a template with MI/FP zeroed, produces the same bytes.
    let prepared = HmacSha1::new_from_slice(key).unwrap();
    for bk in [BKey::Raw(key), BKey::Prepared(&prepared)] {
        let mut t = p_raw.clone();
        t[64..84].fill(0);
        t[88..92].fill(0);
        bare_sign(&mut t, layout, &bk);
        assert_eq!(t, p_raw, "bare signer disagrees with the codecs");
        assert!(bare_verify(&p_raw, layout, &bk));
        let mut bad = p_raw.clone();
        bad[30] ^= 1;
        assert!(!bare_verify(&bad, layout, &bk));
    }

    let want = expected_fields();
    for (who, bytes) in [("pinhole", &p_raw), ("webrtc-rs", &w_bytes)] {
        // Pinhole decodes both.
        for k in [PKey::Raw(key), PKey::Prepared(&pkey)] {
            let (u, p, t, c) = pinhole_decode(bytes, &k)
                .unwrap_or_else(|| panic!("pinhole rejects {who}'s message"));
            assert_eq!((u.to_owned(), p, t, c), want);
        }
        // webrtc-rs decodes both.
        let mut m = WMessage::new();
        let got = webrtc_decode(&mut m, bytes, &mi)
            .unwrap_or_else(|| panic!("webrtc-rs rejects {who}'s message"));
        assert_eq!(got, want);
        // Reusing the decode Message works too.
        assert_eq!(webrtc_decode(&mut m, bytes, &mi), Some(want.clone()));
    }

    // And all reject a tampered message (so none of them skips a check).
    let mut bad = p_raw.clone();
    bad[25] ^= 0x01; // inside USERNAME
    let mut m = WMessage::new();
    assert!(pinhole_decode(&bad, &PKey::Raw(key)).is_none());
    assert!(webrtc_decode(&mut m, &bad, &mi).is_none());
    let wrong = MessageIntegrity::new_short_term_integrity("wrong-password-wrong-pw".into());
    assert!(pinhole_decode(&p_raw, &PKey::Raw(b"wrong-password-wrong-pw")).is_none());
    assert!(webrtc_decode(&mut m, &p_raw, &wrong).is_none());

    (p_raw, layout)
}

// ---------------------------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------------------------

fn stun_codec(c: &mut Criterion) {
    let (msg, layout) = cross_check();
    let key = PASSWORD.as_bytes();
    let pkey = IntegrityKey::short_term(PASSWORD).unwrap();
    let bare_prepared = HmacSha1::new_from_slice(key).unwrap();
    let mi = MessageIntegrity::new_short_term_integrity(PASSWORD.to_owned());
    let uname = TextAttribute::new(ATTR_USERNAME, USERNAME.to_owned());

    {
        let mut g = c.benchmark_group("decode_verify");
        g.throughput(Throughput::Elements(1));
        g.bench_function("pinhole/raw_key", |b| {
            b.iter(|| {
                let r = pinhole_decode(black_box(&msg), &PKey::Raw(black_box(key)));
                black_box(r.unwrap());
            })
        });
        g.bench_function("pinhole/prepared_key", |b| {
            b.iter(|| {
                let r = pinhole_decode(black_box(&msg), &PKey::Prepared(black_box(&pkey)));
                black_box(r.unwrap());
            })
        });
        g.bench_function("webrtc-rs", |b| {
            let mut m = WMessage::new();
            b.iter(|| {
                let r = webrtc_decode(&mut m, black_box(&msg), black_box(&mi));
                black_box(r.unwrap());
            })
        });
        g.bench_function("bare/raw_key", |b| {
            b.iter(|| {
                assert!(bare_verify(
                    black_box(&msg),
                    black_box(layout),
                    &BKey::Raw(black_box(key))
                ));
            })
        });
        g.bench_function("bare/prepared_key", |b| {
            b.iter(|| {
                assert!(bare_verify(
                    black_box(&msg),
                    black_box(layout),
                    &BKey::Prepared(black_box(&bare_prepared))
                ));
            })
        });
        g.finish();
    }

    {
        let mut g = c.benchmark_group("encode");
        g.throughput(Throughput::Elements(1));
        let mut buf = [0u8; 1500];
        g.bench_function("pinhole/raw_key", |b| {
            b.iter(|| {
                let out = pinhole_encode(black_box(&mut buf), &PKey::Raw(black_box(key)));
                black_box(out);
            })
        });
        g.bench_function("pinhole/prepared_key", |b| {
            b.iter(|| {
                let out = pinhole_encode(black_box(&mut buf), &PKey::Prepared(black_box(&pkey)));
                black_box(out);
            })
        });
        g.bench_function("webrtc-rs", |b| {
            let mut m = WMessage::new();
            b.iter(|| {
                webrtc_encode(black_box(&mut m), black_box(&uname), black_box(&mi));
                black_box(&m.raw);
            })
        });
        let mut template = msg.clone();
        g.bench_function("bare/raw_key", |b| {
            b.iter(|| {
                bare_sign(
                    black_box(&mut template),
                    black_box(layout),
                    &BKey::Raw(black_box(key)),
                );
                black_box(&template);
            })
        });
        g.bench_function("bare/prepared_key", |b| {
            b.iter(|| {
                bare_sign(
                    black_box(&mut template),
                    black_box(layout),
                    &BKey::Prepared(black_box(&bare_prepared)),
                );
                black_box(&template);
            })
        });
        g.finish();
        assert_eq!(template, msg, "bare signer drifted");
        assert_eq!(&buf[..msg.len()], &msg[..], "pinhole encoder drifted");
    }
}

criterion_group!(benches, stun_codec);
criterion_main!(benches);
