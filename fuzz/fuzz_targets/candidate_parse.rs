//! Parses arbitrary text as an RFC 8839 candidate line (what any peer's signaling
//! controls). A parsed candidate must print to a line that parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::ice::Candidate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(c) = Candidate::parse(text) {
        let line = c.to_string();
        let again = Candidate::parse(&line).expect("a printed candidate parses");
        assert_eq!(again.to_string(), line);
    }
});
