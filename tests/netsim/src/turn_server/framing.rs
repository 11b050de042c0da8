//! TURN ChannelData (RFC 8656 §12.4) and the framing of STUN + ChannelData over a
//! byte stream (RFC 8656 §12.5: over TCP/TLS every ChannelData frame is padded
//! to a multiple of 4 bytes, so a receiver can always find the next frame).
//!
//! `core` has no ChannelData codec yet (it is being written in `core/src/turn/`);
//! this is the small one the netsim TURN server and its tests need.

/// Lowest and highest channel number a client may bind (RFC 8656 §12).
pub const CHANNEL_MIN: u16 = 0x4000;
pub const CHANNEL_MAX: u16 = 0x4FFF;

/// True if `n` is a channel number a client may bind.
pub fn is_valid_channel(n: u16) -> bool {
    (CHANNEL_MIN..=CHANNEL_MAX).contains(&n)
}

/// True if a message starting with `b` is ChannelData (RFC 7983: 64..=79).
pub fn is_channel_data_first_byte(b: u8) -> bool {
    (64..=79).contains(&b)
}

/// Encodes a ChannelData message. `pad` adds zero bytes up to a multiple of 4
/// (required over streams, optional over UDP).
pub fn encode_channel_data(channel: u16, data: &[u8], pad: bool) -> Vec<u8> {
    let len = data.len().min(u16::MAX as usize);
    let total = if pad { pad4(4 + len) } else { 4 + len };
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&data[..len]);
    out.resize(total, 0);
    out
}

/// Decodes a ChannelData message received in one UDP datagram: `(channel, data)`.
/// `None` if it is not ChannelData or shorter than its length field claims
/// (bytes beyond the claimed length, such as padding, are ignored).
pub fn decode_channel_data(buf: &[u8]) -> Option<(u16, &[u8])> {
    if buf.len() < 4 || !is_channel_data_first_byte(buf[0]) {
        return None;
    }
    let channel = u16::from_be_bytes([buf[0], buf[1]]);
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    buf.get(4..4 + len).map(|d| (channel, d))
}

/// Rounds up to a multiple of 4.
pub fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// One frame cut from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole STUN message (header + attributes).
    Stun(Vec<u8>),
    /// A ChannelData message: channel number and data (padding removed).
    ChannelData { channel: u16, data: Vec<u8> },
}

/// The stream is not TURN framing (first byte neither STUN nor ChannelData):
/// the connection cannot be resynchronised and should be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramingError {
    pub first_byte: u8,
}

/// Reassembles STUN messages and (padded) ChannelData frames from a byte stream.
#[derive(Debug, Default, Clone)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

impl StreamFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        let Some(&b0) = self.buf.first() else {
            return Ok(None);
        };
        if self.buf.len() < 4 {
            return if b0 <= 3 || is_channel_data_first_byte(b0) {
                Ok(None)
            } else {
                Err(FramingError { first_byte: b0 })
            };
        }
        let len = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
        if b0 <= 3 {
            let total = 20 + len;
            if self.buf.len() < total {
                return Ok(None);
            }
            let msg: Vec<u8> = self.buf.drain(..total).collect();
            Ok(Some(Frame::Stun(msg)))
        } else if is_channel_data_first_byte(b0) {
            let total = pad4(4 + len);
            if self.buf.len() < total {
                return Ok(None);
            }
            let channel = u16::from_be_bytes([self.buf[0], self.buf[1]]);
            let data = self.buf[4..4 + len].to_vec();
            self.buf.drain(..total);
            Ok(Some(Frame::ChannelData { channel, data }))
        } else {
            Err(FramingError { first_byte: b0 })
        }
    }

    /// Every whole frame now buffered (stops at a framing error, which is returned last).
    pub fn drain_frames(&mut self) -> (Vec<Frame>, Option<FramingError>) {
        let mut out = Vec::new();
        loop {
            match self.next_frame() {
                Ok(Some(f)) => out.push(f),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_data_round_trip_and_padding() {
        let m = encode_channel_data(0x4001, b"hello", true);
        assert_eq!(m.len(), 12);
        assert_eq!(&m[..4], &[0x40, 0x01, 0, 5]);
        assert_eq!(decode_channel_data(&m), Some((0x4001, &b"hello"[..])));
        let u = encode_channel_data(0x4001, b"hello", false);
        assert_eq!(u.len(), 9);
        assert_eq!(decode_channel_data(&u[..8]), None);
        assert_eq!(decode_channel_data(b"\x00\x01\x00\x00"), None);
    }

    #[test]
    fn stream_framer_splits_and_joins() {
        let mut stream = encode_channel_data(0x4000, b"abc", true);
        let stun = [
            0u8, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ];
        stream.extend_from_slice(&stun);
        let mut f = StreamFramer::new();
        for chunk in stream.chunks(3) {
            f.push(chunk);
        }
        let (frames, err) = f.drain_frames();
        assert_eq!(err, None);
        assert_eq!(
            frames,
            vec![
                Frame::ChannelData {
                    channel: 0x4000,
                    data: b"abc".to_vec()
                },
                Frame::Stun(stun.to_vec())
            ]
        );
        f.push(&[0x80, 0, 0, 0]);
        assert_eq!(f.next_frame(), Err(FramingError { first_byte: 0x80 }));
    }
}
