//! The C API's string and byte inputs: configuration setters and a session's signaling and
//! datagram calls get arbitrary bytes (with and without a NUL, as C would pass them).
//! Every call must return a status; nothing may panic or crash.
#![no_main]

use std::ffi::{c_char, CString};

use libfuzzer_sys::fuzz_target;
use pinhole_ffi::*;

fuzz_target!(|data: &[u8]| {
    let nul_free: Vec<u8> = data.iter().copied().filter(|b| *b != 0).collect();
    let c = CString::new(nul_free).unwrap();
    let p = c.as_ptr();
    unsafe {
        let mut cfg: *mut PinholeConfig = std::ptr::null_mut();
        assert_eq!(pinhole_config_new(&mut cfg), PinholeStatus::Ok);
        let _ = pinhole_config_add_stun_server(cfg, p);
        let _ = pinhole_config_add_turn_server(cfg, p, p, p);
        let _ = pinhole_config_add_bind_address(cfg, p);
        let _ = pinhole_config_set_turn_ca_pem(cfg, data.as_ptr(), data.len());
        let _ = pinhole_config_set_role(cfg, i32::from(data.first().copied().unwrap_or(0)) - 100);
        let bind = CString::new("10.0.0.1").unwrap();
        let mut cfg2: *mut PinholeConfig = std::ptr::null_mut();
        assert_eq!(pinhole_config_new(&mut cfg2), PinholeStatus::Ok);
        assert_eq!(pinhole_config_add_bind_address(cfg2, bind.as_ptr()), PinholeStatus::Ok);
        let mut s: *mut PinholeSession = std::ptr::null_mut();
        assert_eq!(pinhole_session_new_sansio(cfg2, 0, &mut s), PinholeStatus::Ok);
        let _ = pinhole_session_handle_signal(s, data.as_ptr() as *const c_char, data.len());
        let _ = pinhole_session_send(s, data.as_ptr(), data.len());
        let local = PinholeAddress { family: 4, port: 5000, ip: [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], scope_id: 0 };
        let _ = pinhole_session_socket_bound(s, 1, &local);
        let _ = pinhole_session_handle_datagram(s, 2, &local, &local, data.as_ptr(), data.len());
        let mut kind = PinholeOutputKind::Timeout;
        for _ in 0..1000 {
            if pinhole_session_poll_output(s, &mut kind) != PinholeStatus::Ok || kind == PinholeOutputKind::Timeout {
                break;
            }
        }
        pinhole_session_free(s);
        pinhole_config_free(cfg2);
        pinhole_config_free(cfg);
    }
});
