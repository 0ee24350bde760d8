//! The first line of a compressed body, without decompressing the rest.
//!
//! A Sentry envelope may carry its only credential, the `dsn`, in its header
//! line. Decompressing the whole body to read that line would let anyone
//! without a key make the server inflate a compression bomb (about 100 KB
//! of brotli becomes 100 MiB, the envelope limit). Streaming the codings and
//! stopping at the first newline, or at `max_line` bytes, costs at most
//! `max_line` bytes of output whatever the body holds.

use std::io::{BufRead, BufReader, Read};

use super::decode::{DecodeError, Encoding};

/// The first line (without `\n` and a `\r` before it) of `body` once the
/// `Content-Encoding` list `header` is undone. A line longer than
/// `max_line` bytes is [`DecodeError::TooLarge`]; a body without a newline
/// is all line.
pub fn decode_first_line(
    body: &[u8],
    header: Option<&str>,
    max_line: usize,
) -> Result<Vec<u8>, DecodeError> {
    let codings = super::decode::codings(header)?;
    // Codings were applied in order, so the last one is undone first: it is
    // the reader nearest the body.
    let mut reader: Box<dyn Read + '_> = Box::new(body);
    for coding in codings.into_iter().rev() {
        reader = wrap(reader, coding)?;
    }
    let cap = u64::try_from(max_line)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut line = Vec::new();
    BufReader::new(reader.take(cap))
        .read_until(b'\n', &mut line)
        .map_err(|e| DecodeError::Corrupt {
            encoding: "body",
            problem: e.to_string(),
        })?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() > max_line {
        return Err(DecodeError::TooLarge { limit: max_line });
    }
    Ok(line)
}

/// One streaming decoder over `inner`. HTTP `deflate` is zlib by the RFC but
/// sent raw by some clients: the zlib header's checksum tells them apart
/// here, where the whole-body decoder can afford to try both.
fn wrap<'a>(
    inner: Box<dyn Read + 'a>,
    coding: Encoding,
) -> Result<Box<dyn Read + 'a>, DecodeError> {
    Ok(match coding {
        Encoding::Identity => inner,
        Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(inner)),
        Encoding::Deflate => {
            let mut peek = BufReader::new(inner);
            let head = peek.fill_buf().map_err(|e| DecodeError::Corrupt {
                encoding: "deflate",
                problem: e.to_string(),
            })?;
            if super::decode::sniff(head) == Encoding::Deflate {
                Box::new(flate2::read::ZlibDecoder::new(peek))
            } else {
                Box::new(flate2::read::DeflateDecoder::new(peek))
            }
        }
        Encoding::Brotli => Box::new(brotli_decompressor::Decompressor::new(inner, 8192)),
        Encoding::Zstd => {
            Box::new(ruzstd::decoding::StreamingDecoder::new(inner).map_err(|e| {
                DecodeError::Corrupt {
                    encoding: "zstd",
                    problem: e.to_string(),
                }
            })?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decode::tests::{brotli, gzip, raw_deflate, zlib, zstd};

    #[test]
    fn the_header_line_in_every_coding() {
        let body = b"{\"dsn\":\"http://k@h/1\"}\r\n{\"type\":\"event\"}\n{}\n";
        for (header, data) in [
            (None, body.to_vec()),
            (Some("gzip"), gzip(body)),
            (Some("deflate"), zlib(body)),
            (Some("deflate"), raw_deflate(body)),
            (Some("br"), brotli(body)),
            (Some("zstd"), zstd(body)),
            (Some("gzip, br"), brotli(&gzip(body))),
        ] {
            assert_eq!(
                decode_first_line(&data, header, 1024).as_deref(),
                Ok(&b"{\"dsn\":\"http://k@h/1\"}"[..]),
                "{header:?}"
            );
        }
    }

    #[test]
    fn a_bomb_without_a_newline_stops_at_the_cap() {
        let bomb = brotli(&vec![b' '; 64 << 20]);
        assert!(bomb.len() < 100 << 10, "{} bytes", bomb.len());
        assert_eq!(
            decode_first_line(&bomb, Some("br"), 4096),
            Err(DecodeError::TooLarge { limit: 4096 })
        );
        assert_eq!(
            decode_first_line(b"exactly", None, 7).as_deref(),
            Ok(&b"exactly"[..])
        );
    }

    #[test]
    fn garbage_and_unknown_codings_are_errors() {
        assert!(matches!(
            decode_first_line(b"not gzip at all", Some("gzip"), 1024),
            Err(DecodeError::Corrupt { .. })
        ));
        assert_eq!(
            decode_first_line(b"x", Some("compress"), 1024),
            Err(DecodeError::Unsupported("compress".into()))
        );
    }
}
