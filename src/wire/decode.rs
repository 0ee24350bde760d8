//! Bounded decompression of request bodies and datagrams.
//!
//! Every decoder streams into a buffer that stops at `limit + 1` bytes, so a
//! compression bomb (a few KiB that inflate to gigabytes) costs at most
//! `limit` bytes of memory and is refused as [`DecodeError::TooLarge`]
//! (HTTP 413), never an out-of-memory.

use std::io::Read;

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// More than `limit` bytes once decompressed.
    #[error("body is above the {limit}-byte limit once decompressed")]
    TooLarge { limit: usize },
    /// The bytes are not valid for the encoding that was declared.
    #[error("body is not valid {encoding}: {problem}")]
    Corrupt {
        encoding: &'static str,
        problem: String,
    },
    /// A `Content-Encoding` this server does not speak.
    #[error("unsupported Content-Encoding {0:?} (identity, gzip, deflate, br and zstd are)")]
    Unsupported(String),
}

/// One content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    /// HTTP's `deflate` is zlib-wrapped by the RFC, but some clients send raw
    /// deflate; both are accepted.
    Deflate,
    Brotli,
    Zstd,
}

impl Encoding {
    /// Parses one coding name (case-insensitive; `x-gzip` is `gzip`).
    pub fn from_name(name: &str) -> Result<Self, DecodeError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "deflate" => Ok(Self::Deflate),
            "br" => Ok(Self::Brotli),
            "zstd" => Ok(Self::Zstd),
            _ => Err(DecodeError::Unsupported(name.trim().to_string())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Brotli => "brotli",
            Self::Zstd => "zstd",
        }
    }
}

/// The codings a `Content-Encoding` header lists, in the order applied.
pub fn codings(header: Option<&str>) -> Result<Vec<Encoding>, DecodeError> {
    match header {
        None => Ok(Vec::new()),
        Some(header) => header.split(',').map(Encoding::from_name).collect(),
    }
}

/// Decodes a body sent with the `Content-Encoding` header `header` (a list
/// of codings, applied in order, so undone in reverse).
pub fn decode_content(
    body: &[u8],
    header: Option<&str>,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let codings = codings(header)?;
    let mut data: Option<Vec<u8>> = None;
    for coding in codings.into_iter().rev() {
        let input = data.as_deref().unwrap_or(body);
        if coding != Encoding::Identity {
            data = Some(decode(input, coding, limit)?);
        }
    }
    match data {
        Some(data) => Ok(data),
        None if body.len() > limit => Err(DecodeError::TooLarge { limit }),
        None => Ok(body.to_vec()),
    }
}

/// Decodes `input` with one coding, bounded by `limit`.
pub fn decode(input: &[u8], encoding: Encoding, limit: usize) -> Result<Vec<u8>, DecodeError> {
    match encoding {
        Encoding::Identity if input.len() > limit => Err(DecodeError::TooLarge { limit }),
        Encoding::Identity => Ok(input.to_vec()),
        Encoding::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(input), encoding, limit),
        Encoding::Deflate => {
            match read_bounded(flate2::read::ZlibDecoder::new(input), encoding, limit) {
                Err(DecodeError::Corrupt { .. }) => {
                    read_bounded(flate2::read::DeflateDecoder::new(input), encoding, limit)
                }
                other => other,
            }
        }
        Encoding::Brotli => read_bounded(
            brotli_decompressor::Decompressor::new(input, 8192),
            encoding,
            limit,
        ),
        Encoding::Zstd => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(input).map_err(|e| {
                DecodeError::Corrupt {
                    encoding: encoding.name(),
                    problem: e.to_string(),
                }
            })?;
            read_bounded(decoder, encoding, limit)
        }
    }
}

/// What a datagram's first bytes say it is (GELF's rule: gzip `1f 8b`,
/// zlib `78 xx` with a valid header checksum, anything else uncompressed).
pub fn sniff(data: &[u8]) -> Encoding {
    match data {
        [0x1f, 0x8b, ..] => Encoding::Gzip,
        [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 => {
            Encoding::Deflate
        }
        _ => Encoding::Identity,
    }
}

/// Reads everything from `reader`, failing once more than `limit` bytes came out.
fn read_bounded(
    reader: impl Read,
    encoding: Encoding,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt {
            encoding: encoding.name(),
            problem: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    pub(crate) fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    pub(crate) fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    pub(crate) fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).expect("write");
        drop(w);
        out
    }

    pub(crate) fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn every_coding_round_trips() {
        let data = br#"{"message":"hello"}"#.repeat(50);
        let cases = [
            (None, data.clone()),
            (Some("identity"), data.clone()),
            (Some("gzip"), gzip(&data)),
            (Some("x-gzip"), gzip(&data)),
            (Some("deflate"), zlib(&data)),
            (Some("deflate"), raw_deflate(&data)),
            (Some("br"), brotli(&data)),
            (Some("zstd"), zstd(&data)),
            (Some("gzip, br"), brotli(&gzip(&data))),
        ];
        for (header, body) in cases {
            assert_eq!(
                decode_content(&body, header, 1 << 20).as_deref(),
                Ok(&data[..]),
                "{header:?}"
            );
        }
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 8 << 20];
        for (header, body) in [
            ("gzip", gzip(&zeros)),
            ("deflate", zlib(&zeros)),
            ("br", brotli(&zeros)),
            ("zstd", zstd(&zeros)),
        ] {
            assert!(body.len() < 64 << 10, "{header}: a bomb is small");
            assert_eq!(
                decode_content(&body, Some(header), 1 << 20),
                Err(DecodeError::TooLarge { limit: 1 << 20 }),
                "{header}"
            );
        }
        assert_eq!(
            decode_content(&zeros, None, 1 << 20),
            Err(DecodeError::TooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn garbage_and_unknown_codings_are_errors() {
        for header in ["gzip", "deflate", "br", "zstd"] {
            assert!(
                matches!(
                    decode_content(b"definitely not compressed", Some(header), 1024),
                    Err(DecodeError::Corrupt { .. })
                ),
                "{header}"
            );
        }
        assert_eq!(
            decode_content(b"x", Some("compress"), 1024),
            Err(DecodeError::Unsupported("compress".into()))
        );
    }

    #[test]
    fn sniffing_magic_bytes() {
        assert_eq!(sniff(&gzip(b"{}")), Encoding::Gzip);
        assert_eq!(sniff(&zlib(b"{}")), Encoding::Deflate);
        assert_eq!(sniff(b"{\"a\":1}"), Encoding::Identity);
        assert_eq!(sniff(b"x"), Encoding::Identity);
        assert_eq!(sniff(b""), Encoding::Identity);
    }
}
