//! `PinholeEvent`: one event, read through accessors (no struct layout in the header).
//! An event handed to a callback is valid for the call; one from
//! `pinhole_session_poll_event` until `pinhole_event_free`.

use std::ffi::{c_char, CString};

use engine::session::{Event, PathInfo, PathKind, SessionState};

use crate::guard::{guard, Failure};
use crate::status::PinholeStatus;

/// What an event is about.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinholeEventKind {
    /// A signaling message to send to the peer: `pinhole_event_text`.
    Signal = 1,
    /// The connection state changed: `pinhole_event_state`.
    StateChanged = 2,
    /// Data takes a new path: `pinhole_event_path_kind`, `pinhole_event_text` ("host
    /// 192.0.2.1:5000 -> srflx 198.51.100.2:6000"), `pinhole_event_rtt_us`.
    PathChanged = 3,
    /// A TURN server failed: `pinhole_event_text` says which and why.
    RelayFailed = 4,
    /// ICE restarted: `pinhole_event_by_peer`.
    Restarted = 5,
    /// A kind this header does not know (a newer library): ignore it.
    Other = 99,
}

/// The connection state.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinholeState {
    /// Created.
    New = 0,
    /// Looking for a path.
    Checking = 1,
    /// A path carries data.
    Connected = 2,
    /// The path went silent; it may come back.
    Disconnected = 3,
    /// No path works: `pinhole_session_restart` tries again.
    Failed = 4,
    /// Closed.
    Closed = 5,
}

impl From<SessionState> for PinholeState {
    fn from(s: SessionState) -> Self {
        match s {
            SessionState::New => PinholeState::New,
            SessionState::Checking => PinholeState::Checking,
            SessionState::Connected => PinholeState::Connected,
            SessionState::Disconnected => PinholeState::Disconnected,
            SessionState::Failed => PinholeState::Failed,
            _ => PinholeState::Closed,
        }
    }
}

/// Direct or relayed.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinholePathKind {
    /// No path (not a path event).
    None = 0,
    /// Peer to peer.
    Direct = 1,
    /// Through a TURN server.
    Relay = 2,
}

/// An event (opaque).
pub struct PinholeEvent {
    pub(crate) kind: PinholeEventKind,
    pub(crate) state: PinholeState,
    pub(crate) path: PinholePathKind,
    pub(crate) rtt_us: i64,
    pub(crate) by_peer: bool,
    /// The signal's JSON, the path's description or the relay failure; NUL-terminated.
    pub(crate) text: CString,
}

pub(crate) fn path_text(p: &PathInfo) -> String {
    format!("{} -> {}", p.local, p.remote)
}

fn cstring(s: String) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl PinholeEvent {
    pub(crate) fn new(e: Event) -> PinholeEvent {
        let mut ev = PinholeEvent {
            kind: PinholeEventKind::Other,
            state: PinholeState::New,
            path: PinholePathKind::None,
            rtt_us: -1,
            by_peer: false,
            text: CString::default(),
        };
        match e {
            Event::Signal(m) => {
                ev.kind = PinholeEventKind::Signal;
                ev.text = cstring(m.to_json());
            }
            Event::StateChanged(s) => {
                ev.kind = PinholeEventKind::StateChanged;
                ev.state = s.into();
                ev.text = cstring(s.as_str().to_owned());
            }
            Event::PathChanged(p) => {
                ev.kind = PinholeEventKind::PathChanged;
                ev.path = match p.kind {
                    PathKind::Direct => PinholePathKind::Direct,
                    _ => PinholePathKind::Relay,
                };
                ev.rtt_us = p
                    .rtt
                    .map_or(-1, |d| d.as_micros().min(i64::MAX as u128) as i64);
                ev.text = cstring(path_text(&p));
            }
            Event::RelayFailed { server, error, .. } => {
                ev.kind = PinholeEventKind::RelayFailed;
                ev.text = cstring(format!("TURN server {server} failed: {error}"));
            }
            Event::Restarted { by_peer } => {
                ev.kind = PinholeEventKind::Restarted;
                ev.by_peer = by_peer;
                ev.text = cstring(
                    if by_peer {
                        "restarted by the peer"
                    } else {
                        "restarted"
                    }
                    .to_owned(),
                );
            }
            other => ev.text = cstring(format!("{other:?}")),
        }
        ev
    }
}

/// The event's kind (`PINHOLE_EVENT_KIND_OTHER` for NULL).
///
/// # Safety
/// `event` is NULL or a valid event.
#[no_mangle]
pub unsafe extern "C" fn pinhole_event_kind(event: *const PinholeEvent) -> PinholeEventKind {
    // SAFETY: the caller passes NULL or a live event.
    unsafe { event.as_ref() }.map_or(PinholeEventKind::Other, |e| e.kind)
}

/// For `STATE_CHANGED`: the new state (`PINHOLE_STATE_NEW` otherwise or for NULL).
///
/// # Safety
/// `event` is NULL or a valid event.
#[no_mangle]
pub unsafe extern "C" fn pinhole_event_state(event: *const PinholeEvent) -> PinholeState {
    // SAFETY: as above.
    unsafe { event.as_ref() }.map_or(PinholeState::New, |e| e.state)
}

/// For `PATH_CHANGED`: direct or relay (`PINHOLE_PATH_KIND_NONE` otherwise).
///
/// # Safety
/// `event` is NULL or a valid event.
#[no_mangle]
pub unsafe extern "C" fn pinhole_event_path_kind(event: *const PinholeEvent) -> PinholePathKind {
    // SAFETY: as above.
    unsafe { event.as_ref() }.map_or(PinholePathKind::None, |e| e.path)
}

/// For `PATH_CHANGED`: the last round-trip time in microseconds, -1 if unknown.
///
/// # Safety
/// `event` is NULL or a valid event.
#[no_mangle]
pub unsafe extern "C" fn pinhole_event_rtt_us(event: *const PinholeEvent) -> i64 {
    // SAFETY: as above.
    unsafe { event.as_ref() }.map_or(-1, |e| e.rtt_us)
}

/// For `RESTARTED`: whether the peer asked for it.
///
/// # Safety
/// `event` is NULL or a valid event.
#[no_mangle]
pub unsafe extern "C" fn pinhole_event_by_peer(event: *const PinholeEvent) -> bool {
    // SAFETY: as above.
    unsafe { event.as_ref() }.is_some_and(|e| e.by_peer)
}

/// The event's text: for `SIGNAL` the message to send to the peer (JSON, one line); for
/// `PATH_CHANGED` "local -> remote" with candidate types; for `RELAY_FAILED` the reason;
/// for the others a description. NUL-terminated; `*len` (if not NULL) gets its length.
/// Valid as long as the event.
///
/// # Safety
/// `event` is NULL or a valid event; `text` is NULL or writable; `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_event_text(
    event: *const PinholeEvent,
    text: *mut *const c_char,
    len: *mut usize,
) -> PinholeStatus {
    guard(|| {
        // SAFETY: the caller passes NULL or a live event.
        let e = unsafe { event.as_ref() }.ok_or_else(|| Failure::null("event"))?;
        if text.is_null() {
            return Err(Failure::null("text"));
        }
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { *text = e.text.as_ptr() };
        if !len.is_null() {
            // SAFETY: as above.
            unsafe { *len = e.text.as_bytes().len() };
        }
        Ok(PinholeStatus::Ok)
    })
}

/// Frees an event from `pinhole_session_poll_event`. NULL is a no-op.
///
/// # Safety
/// `event` is NULL or an event from `pinhole_session_poll_event`, freed once.
#[no_mangle]
pub unsafe extern "C" fn pinhole_event_free(event: *mut PinholeEvent) {
    if !event.is_null() {
        // SAFETY: created by Box::into_raw in poll_event; the caller frees it once.
        let _ = std::panic::catch_unwind(|| drop(unsafe { Box::from_raw(event) }));
    }
}
