//! Splitting a TCP/TLS byte stream from a TURN server into whole messages (RFC 8656
//! §12.5): a STUN message is 20 bytes plus its length field; a ChannelData frame is 4
//! bytes plus its length field, padded to a multiple of 4. Reads may end anywhere, and
//! one read may carry several messages.

use super::channel_data::{self, ChannelData};
use crate::stun::HEADER_LEN as STUN_HEADER_LEN;

/// Accumulates stream bytes and yields whole frames.
#[derive(Debug, Default)]
pub(crate) struct StreamFramer {
    buf: Vec<u8>,
    start: usize,
    /// Bytes discarded because they began with neither a STUN nor a ChannelData header.
    garbage: u64,
}

/// One whole message cut from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A STUN message (header and attributes), ready for `Message::parse`.
    Stun(Vec<u8>),
    /// A ChannelData frame without its stream padding.
    ChannelData(Vec<u8>),
}

impl StreamFramer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet returned as a frame.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Bytes thrown away as unframeable so far.
    pub(crate) fn garbage(&self) -> u64 {
        self.garbage
    }

    /// Discards everything buffered (after a reconnect).
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// The next whole frame, or `None` until more bytes arrive. A stream that starts with
    /// neither kind of header cannot be resynchronised: everything buffered is dropped
    /// and counted in [`StreamFramer::garbage`].
    #[must_use = "a returned frame is gone from the buffer: handle it"]
    pub(crate) fn next_frame(&mut self) -> Option<Frame> {
        let rest = &self.buf[self.start..];
        let first = *rest.first()?;
        let (total, take, stun) = if crate::stun::is_stun_first_byte(first) {
            if rest.len() < 4 {
                return None;
            }
            let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
            (STUN_HEADER_LEN + len, STUN_HEADER_LEN + len, true)
        } else if channel_data::is_channel_data_first_byte(first) {
            if rest.len() < 4 {
                return None;
            }
            let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
            (
                ChannelData::stream_len(len),
                channel_data::HEADER_LEN + len,
                false,
            )
        } else {
            self.garbage += rest.len() as u64;
            self.reset();
            return None;
        };
        if rest.len() < total {
            return None;
        }
        let bytes = rest[..take].to_vec();
        self.start += total;
        Some(if stun {
            Frame::Stun(bytes)
        } else {
            Frame::ChannelData(bytes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::{encode_to_vec, Attribute, Class, MessageType, Method, TransactionId};

    fn stun() -> Vec<u8> {
        encode_to_vec(
            MessageType::new(Class::Indication, Method::DATA),
            TransactionId([7; 12]),
            &[Attribute::Data(b"xyz")],
            None,
            false,
        )
        .unwrap()
    }

    #[test]
    fn splits_coalesced_and_partial_reads() {
        let s = stun();
        let cd = ChannelData::encode(0x4001, b"hello", true).unwrap();
        let mut stream = Vec::new();
        stream.extend_from_slice(&cd);
        stream.extend_from_slice(&s);
        stream.extend_from_slice(&cd);
        // Every split point, byte by byte and in one piece.
        for chunk in [1, 3, 5, 7, stream.len()] {
            let mut f = StreamFramer::new();
            let mut frames = Vec::new();
            for piece in stream.chunks(chunk) {
                f.push(piece);
                while let Some(fr) = f.next_frame() {
                    frames.push(fr);
                }
            }
            assert_eq!(
                frames,
                vec![
                    Frame::ChannelData(cd[..9].to_vec()),
                    Frame::Stun(s.clone()),
                    Frame::ChannelData(cd[..9].to_vec()),
                ],
                "chunk size {chunk}"
            );
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn garbage_is_dropped_and_counted() {
        let mut f = StreamFramer::new();
        f.push(&[0x99, 1, 2, 3, 4]);
        assert_eq!(f.next_frame(), None);
        assert_eq!(f.garbage(), 5);
        f.push(&ChannelData::encode(0x4000, b"", true).unwrap());
        assert_eq!(
            f.next_frame(),
            Some(Frame::ChannelData(vec![0x40, 0, 0, 0]))
        );
    }
}
