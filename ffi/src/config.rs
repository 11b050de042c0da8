//! `PinholeConfig`: built with setters, so the header freezes no struct layout.

use std::ffi::{c_char, c_void};
use std::net::IpAddr;
use std::time::Duration;

use engine::session::{RelayPolicy, Role, SessionConfig, TurnServer};

use crate::callbacks::{
    Callbacks, PinholeDatagramCallback, PinholeDropCallback, PinholeEventCallback, Userdata,
};
use crate::guard::{guard, Failure};
use crate::status::PinholeStatus;
use crate::strings::{bytes, cstr, out};

/// Who controls nomination. (Enum arguments are passed as `int32_t`: a value outside
/// the enum is `PINHOLE_STATUS_INVALID_ARGUMENT`, never undefined behaviour.)
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinholeRole {
    /// Agreed with the peer through the signaling (the default).
    Auto = 0,
    /// Controlling.
    Controlling = 1,
    /// Controlled.
    Controlled = 2,
}

/// Which candidates a session uses.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinholeRelayPolicy {
    /// Direct where possible, TURN where not (the default).
    All = 0,
    /// Only through TURN: the peer never learns a local or public address.
    RelayOnly = 1,
    /// Never through TURN.
    NoRelay = 2,
}

/// A tunable timer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinholeTimer {
    /// Connectivity-check pacing Ta (default 50 ms).
    CheckPacing = 0,
    /// Consent freshness interval (default 5000 ms, randomised 0.8-1.2x).
    ConsentInterval = 1,
    /// Consent expiry after the last response (default 30000 ms).
    ConsentTimeout = 2,
    /// Silence on the path before DISCONNECTED (default 2500 ms).
    Disconnected = 3,
    /// Longest a server name may take to resolve (default 5000 ms).
    DnsTimeout = 4,
}

/// Which thread calls the event and datagram callbacks.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinholeCallbackThread {
    /// The thread that calls `pinhole_run_callbacks()` (or
    /// `pinhole_session_run_callbacks`), e.g. once per frame of a game loop (the default).
    RunCallbacks = 0,
    /// One of Pinhole's runtime threads, as soon as the event happens. Keep callbacks
    /// short; calling back into the session from them is fine.
    PinholeThread = 1,
}

/// A session configuration (opaque). Create with `pinhole_config_new`, free with
/// `pinhole_config_free`; `pinhole_session_new` copies what it needs, so a config can be
/// freed or reused right after.
pub struct PinholeConfig {
    pub(crate) session: SessionConfig,
    pub(crate) callbacks: Callbacks,
}

fn config<'a>(c: *mut PinholeConfig) -> Result<&'a mut PinholeConfig, Failure> {
    // SAFETY: every caller passes NULL or a config from pinhole_config_new that is not
    // used from two threads at once (documented in the header).
    unsafe { c.as_mut() }.ok_or_else(|| Failure::null("config"))
}

/// Creates a configuration with the defaults: automatic role, every interface, no
/// servers (host candidates only: works on a LAN).
///
/// # Safety
/// `out_config` is writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_new(out_config: *mut *mut PinholeConfig) -> PinholeStatus {
    guard(|| {
        let o = out(out_config, "out_config")?;
        let c = Box::new(PinholeConfig {
            session: SessionConfig::default(),
            callbacks: Callbacks::default(),
        });
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { *o = Box::into_raw(c) };
        Ok(PinholeStatus::Ok)
    })
}

/// Frees a configuration. NULL is a no-op. Userdata given to its callback setters is not
/// dropped here unless no session took it (then its drop callback runs).
///
/// # Safety
/// `config` is NULL or from `pinhole_config_new`, freed once.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_free(config: *mut PinholeConfig) {
    if !config.is_null() {
        // SAFETY: from Box::into_raw in pinhole_config_new, freed once.
        let _ = std::panic::catch_unwind(|| drop(unsafe { Box::from_raw(config) }));
    }
}

/// Sets the role (a `PinholeRole`).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_role(
    config: *mut PinholeConfig,
    role: i32,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        c.session.role = match role {
            0 => Role::Auto,
            1 => Role::Controlling,
            2 => Role::Controlled,
            r => {
                return Err(Failure::new(
                    PinholeStatus::InvalidArgument,
                    format!("role {r} is not a PinholeRole"),
                ))
            }
        };
        Ok(PinholeStatus::Ok)
    })
}

/// Adds a STUN server, `HOST[:PORT]` (port 3478 by default; names are resolved when
/// the session starts).
///
/// # Safety
/// `config` is NULL or valid; `host_port` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_add_stun_server(
    config: *mut PinholeConfig,
    host_port: *const c_char,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        // SAFETY: forwarded contract.
        let s = unsafe { cstr(host_port, "host_port") }?;
        let test = SessionConfig::default().with_stun_server(s);
        test.check()
            .map_err(|e| Failure::new(PinholeStatus::InvalidConfig, e.to_string()))?;
        c.session.stun_servers.push(s.to_owned());
        Ok(PinholeStatus::Ok)
    })
}

/// Adds a TURN server: an RFC 7065 URL (`turn:HOST[:PORT][?transport=udp|tcp]`,
/// `turns:HOST[:PORT]`) and its long-term credentials.
///
/// # Safety
/// `config` is NULL or valid; the strings NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_add_turn_server(
    config: *mut PinholeConfig,
    url: *const c_char,
    username: *const c_char,
    password: *const c_char,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        // SAFETY: forwarded contract.
        let (url, user, pass) = unsafe {
            (
                cstr(url, "url")?,
                cstr(username, "username")?,
                cstr(password, "password")?,
            )
        };
        let server = TurnServer::new(url, user, pass);
        let test = SessionConfig::default().with_turn_server(server.clone());
        test.check()
            .map_err(|e| Failure::new(PinholeStatus::InvalidConfig, e.to_string()))?;
        c.session.turn_servers.push(server);
        Ok(PinholeStatus::Ok)
    })
}

/// Trusts (and pins) these PEM certificates for `turns:` servers, on top of the web PKI
/// roots. The bytes are copied.
///
/// # Safety
/// `config` is NULL or valid; `pem` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_turn_ca_pem(
    config: *mut PinholeConfig,
    pem: *const u8,
    len: usize,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        // SAFETY: forwarded contract.
        let b = unsafe { bytes(pem, len, "pem") }?;
        c.session.turn_ca_pem = (!b.is_empty()).then(|| b.to_vec());
        Ok(PinholeStatus::Ok)
    })
}

/// Sets the relay policy (a `PinholeRelayPolicy`).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_relay_policy(
    config: *mut PinholeConfig,
    policy: i32,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        c.session.relay_policy = match policy {
            0 => RelayPolicy::All,
            1 => RelayPolicy::RelayOnly,
            2 => RelayPolicy::NoRelay,
            p => {
                return Err(Failure::new(
                    PinholeStatus::InvalidArgument,
                    format!("policy {p} is not a PinholeRelayPolicy"),
                ))
            }
        };
        Ok(PinholeStatus::Ok)
    })
}

/// Binds only this local IP address (may be called several times; default: every
/// interface). A loopback address is then offered as a host candidate.
///
/// # Safety
/// `config` is NULL or valid; `ip` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_add_bind_address(
    config: *mut PinholeConfig,
    ip: *const c_char,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        // SAFETY: forwarded contract.
        let s = unsafe { cstr(ip, "ip") }?;
        let ip: IpAddr = s.parse().map_err(|_| {
            Failure::new(
                PinholeStatus::InvalidArgument,
                format!("{s:?} is not an IP address"),
            )
        })?;
        c.session.bind.push(ip);
        Ok(PinholeStatus::Ok)
    })
}

/// Uses this local UDP port on every socket (default 0: any).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_port(
    config: *mut PinholeConfig,
    port: u16,
) -> PinholeStatus {
    guard(|| {
        self::config(config)?.session.port = port;
        Ok(PinholeStatus::Ok)
    })
}

/// Enables or disables IPv4 and IPv6 (both on by default).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_ip_families(
    config: *mut PinholeConfig,
    ipv4: bool,
    ipv6: bool,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        c.session.ipv4 = ipv4;
        c.session.ipv6 = ipv6;
        Ok(PinholeStatus::Ok)
    })
}

/// Received datagrams held for the application (default 256); newer ones are dropped
/// and counted when full.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_receive_queue(
    config: *mut PinholeConfig,
    datagrams: usize,
) -> PinholeStatus {
    guard(|| {
        self::config(config)?.session.receive_queue = datagrams;
        Ok(PinholeStatus::Ok)
    })
}

/// Datagrams `pinhole_session_send` accepts before the session is connected, sent once
/// it is (default 0: sending before connected is `PINHOLE_STATUS_NOT_CONNECTED`).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_early_send_queue(
    config: *mut PinholeConfig,
    datagrams: usize,
) -> PinholeStatus {
    guard(|| {
        self::config(config)?.session.early_send_queue = datagrams;
        Ok(PinholeStatus::Ok)
    })
}

/// Port mapping through the default gateway (NAT-PMP, PCP and UPnP-IGD, tried together;
/// on by default): a mapping is offered to the peer as a candidate that stays reachable
/// behind a symmetric NAT, renewed while the session lives and deleted on close. Pass
/// `false` for an app that must not touch the router.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_port_mapping(
    config: *mut PinholeConfig,
    enabled: bool,
) -> PinholeStatus {
    guard(|| {
        self::config(config)?.session.port_mapping.enabled = enabled;
        Ok(PinholeStatus::Ok)
    })
}

/// The hard-NAT punch (on by default; needs a STUN server that supports RFC 5780): when
/// one side's NAT is symmetric and ordinary checks fail, the sessions open extra sockets
/// and send a bounded burst of authenticated checks (at most 2048, 1000 a second) to find
/// a direct path, with the relay carrying data meanwhile. Pass `false` to never do that.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_hard_nat(
    config: *mut PinholeConfig,
    enabled: bool,
) -> PinholeStatus {
    guard(|| {
        self::config(config)?.session.hard_nat.enabled = enabled;
        Ok(PinholeStatus::Ok)
    })
}

/// How many times a session whose path worked and then failed for good restarts ICE by
/// itself (the state reads DISCONNECTED meanwhile) before FAILED reaches the app
/// (default 3; 0: report FAILED at once).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_restart_on_failure(
    config: *mut PinholeConfig,
    restarts: u32,
) -> PinholeStatus {
    guard(|| {
        self::config(config)?.session.network.restart_on_failure = restarts;
        Ok(PinholeStatus::Ok)
    })
}

/// Sets a timer (a `PinholeTimer`), in milliseconds.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_timer_ms(
    config: *mut PinholeConfig,
    timer: i32,
    ms: u32,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        let d = Duration::from_millis(u64::from(ms));
        match timer {
            0 => c.session.ice.ta = d,
            1 => c.session.ice.consent_interval = d,
            2 => c.session.ice.consent_timeout = d,
            3 => c.session.ice.disconnected_timeout = d,
            4 => c.session.dns_timeout = d,
            t => {
                return Err(Failure::new(
                    PinholeStatus::InvalidArgument,
                    format!("timer {t} is not a PinholeTimer"),
                ))
            }
        }
        Ok(PinholeStatus::Ok)
    })
}

/// Calls `callback` for every event (instead of queueing them for
/// `pinhole_session_poll_event`). `drop_userdata` (may be NULL) runs once when the last
/// session using it is freed. Which thread calls: `pinhole_config_set_callback_thread`.
///
/// # Safety
/// `config` is NULL or valid; `userdata` is valid for as long as the callbacks may run.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_event_callback(
    config: *mut PinholeConfig,
    callback: PinholeEventCallback,
    userdata: *mut c_void,
    drop_userdata: PinholeDropCallback,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        c.callbacks.event = callback.map(|cb| (cb, Userdata::new(userdata, drop_userdata)));
        Ok(PinholeStatus::Ok)
    })
}

/// Calls `callback` for every datagram from the peer (instead of queueing them for
/// `pinhole_session_recv`). The bytes are valid during the call only.
///
/// # Safety
/// As `pinhole_config_set_event_callback`.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_datagram_callback(
    config: *mut PinholeConfig,
    callback: PinholeDatagramCallback,
    userdata: *mut c_void,
    drop_userdata: PinholeDropCallback,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        c.callbacks.datagram = callback.map(|cb| (cb, Userdata::new(userdata, drop_userdata)));
        Ok(PinholeStatus::Ok)
    })
}

/// Chooses the thread that calls the callbacks (a `PinholeCallbackThread`; default
/// `PINHOLE_CALLBACK_THREAD_RUN_CALLBACKS`).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_config_set_callback_thread(
    config: *mut PinholeConfig,
    thread: i32,
) -> PinholeStatus {
    guard(|| {
        let c = self::config(config)?;
        c.callbacks.on_pinhole_thread = match thread {
            0 => false,
            1 => true,
            t => {
                return Err(Failure::new(
                    PinholeStatus::InvalidArgument,
                    format!("{t} is not a PinholeCallbackThread"),
                ))
            }
        };
        Ok(PinholeStatus::Ok)
    })
}
