//! Parses arbitrary text as a signaling message, in its JSON form and as SDP attribute
//! lines. A parsed message must round-trip through its JSON form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::session::Signal;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(Some(m)) = Signal::from_json(text) {
        let json = m.to_json();
        assert_eq!(Signal::from_json(&json).expect("own JSON parses"), Some(m.clone()));
        let _ = m.to_sdp();
    }
    if let Ok(msgs) = Signal::from_sdp(text.lines()) {
        for m in msgs {
            let _ = m.to_json();
        }
    }
});
