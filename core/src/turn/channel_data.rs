//! The ChannelData message (RFC 8656 §12.4): a 4-byte header (channel number, length)
//! and the application data. Over UDP the datagram may carry padding after the data;
//! over TCP/TLS every ChannelData message is padded to a multiple of 4 (§12.5) so the
//! stream stays aligned.

use super::{CHANNEL_MAX, CHANNEL_MIN};

/// Size of the ChannelData header.
pub const HEADER_LEN: usize = 4;

/// A decoded ChannelData message borrowing its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// The channel number (0x4000-0x4FFF).
    pub channel: u16,
    /// The application data, without padding.
    pub data: &'a [u8],
}

/// Why bytes are not a ChannelData message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelDataError {
    /// Fewer than 4 bytes.
    #[error("ChannelData shorter than its 4-byte header")]
    Truncated,
    /// The channel number is outside the range TURN allows.
    #[error("channel number {0:#06x} outside 0x4000-0x4FFF")]
    BadChannel(u16),
    /// The length field promises more bytes than there are.
    #[error("ChannelData length field says {declared} bytes but only {actual} follow")]
    BadLength {
        /// Data bytes the header declares.
        declared: usize,
        /// Data bytes present.
        actual: usize,
    },
}

/// True if `first` (the first byte of a datagram) is in the ChannelData range 0x40-0x4F
/// (RFC 7983).
pub fn is_channel_data_first_byte(first: u8) -> bool {
    (0x40..=0x4f).contains(&first)
}

impl<'a> ChannelData<'a> {
    /// Decodes one message; trailing bytes (padding) after the data are ignored.
    pub fn decode(buf: &'a [u8]) -> Result<Self, ChannelDataError> {
        if buf.len() < HEADER_LEN {
            return Err(ChannelDataError::Truncated);
        }
        let channel = u16::from_be_bytes([buf[0], buf[1]]);
        if !(CHANNEL_MIN..=CHANNEL_MAX).contains(&channel) {
            return Err(ChannelDataError::BadChannel(channel));
        }
        let declared = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        let actual = buf.len() - HEADER_LEN;
        if declared > actual {
            return Err(ChannelDataError::BadLength { declared, actual });
        }
        Ok(ChannelData {
            channel,
            data: &buf[HEADER_LEN..HEADER_LEN + declared],
        })
    }

    /// Encodes into a new buffer; `pad` rounds the total up to a multiple of 4 with zeros
    /// (required on TCP/TLS). `None` if the data exceeds 65535 bytes.
    pub fn encode(channel: u16, data: &[u8], pad: bool) -> Option<Vec<u8>> {
        let len = u16::try_from(data.len()).ok()?;
        let total = HEADER_LEN + data.len();
        let total = if pad {
            total.next_multiple_of(4)
        } else {
            total
        };
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&channel.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(data);
        out.resize(total, 0);
        Some(out)
    }

    /// Bytes a ChannelData frame of declared data length `len` occupies on a stream.
    pub fn stream_len(len: usize) -> usize {
        (HEADER_LEN + len).next_multiple_of(4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_and_without_padding() {
        let udp = ChannelData::encode(0x4001, b"hello", false).unwrap();
        assert_eq!(udp, [0x40, 0x01, 0, 5, b'h', b'e', b'l', b'l', b'o']);
        let tcp = ChannelData::encode(0x4001, b"hello", true).unwrap();
        assert_eq!(tcp.len(), 12);
        assert_eq!(&tcp[9..], &[0, 0, 0]);
        for b in [&udp, &tcp] {
            let d = ChannelData::decode(b).unwrap();
            assert_eq!((d.channel, d.data), (0x4001, &b"hello"[..]));
        }
        assert_eq!(ChannelData::encode(0x4fff, b"abcd", true).unwrap().len(), 8);
        assert_eq!(ChannelData::stream_len(0), 4);
        assert_eq!(ChannelData::stream_len(5), 12);
        assert!(ChannelData::encode(0x4000, &vec![0; 70_000], false).is_none());
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            ChannelData::decode(&[0x40, 0]),
            Err(ChannelDataError::Truncated)
        );
        assert_eq!(
            ChannelData::decode(&[0x50, 0, 0, 0]),
            Err(ChannelDataError::BadChannel(0x5000))
        );
        assert_eq!(
            ChannelData::decode(&[0x40, 0, 0, 9, 1]),
            Err(ChannelDataError::BadLength {
                declared: 9,
                actual: 1
            })
        );
        assert!(is_channel_data_first_byte(0x4f) && !is_channel_data_first_byte(0x50));
    }
}
