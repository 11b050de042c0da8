//! Recording a run: readable text lines and the packets that crossed links.

use crate::clock::fmt_offset;
use crate::packet::Packet;
use std::time::Duration;

/// A packet captured as it entered a link, with its addresses at that point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub at: Duration,
    pub link: String,
    pub packet: Packet,
}

/// The trace of a run. Off by default; when off, nothing is formatted.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    enabled: bool,
    lines: Vec<String>,
    captured: Vec<Captured>,
}

impl Trace {
    pub fn enable(&mut self) {
        self.enabled = true;
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Adds one line (formatted only when tracing is on).
    pub(crate) fn line(&mut self, at: Duration, f: impl FnOnce() -> String) {
        if self.enabled {
            self.lines.push(format!("[{}] {}", fmt_offset(at), f()));
        }
    }

    pub(crate) fn capture(&mut self, at: Duration, link: &str, packet: &Packet) {
        if self.enabled {
            self.captured.push(Captured {
                at,
                link: link.to_string(),
                packet: packet.clone(),
            });
        }
    }

    /// Every line so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The whole trace as text, one event per line.
    pub fn text(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }

    /// Every packet captured at link entry.
    pub fn captured(&self) -> &[Captured] {
        &self.captured
    }
}
