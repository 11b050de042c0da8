//! Parses arbitrary bytes as STUN, then walks every accessor and verification
//! (core/tests/support/stun_walk.rs, shared with the property tests). Any panic, overflow
//! or out-of-bounds access is a bug: network input must only ever produce a `StunError`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::stun::Message;

#[path = "../../core/tests/support/stun_walk.rs"]
mod stun_walk;

const KEY: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        stun_walk::walk(&m, KEY);
    }
});
