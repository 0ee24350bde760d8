//! The legacy store endpoint's body: event JSON, or (old SDKs) that JSON
//! base64-encoded, optionally zlib-compressed before the encoding.

use base64::Engine as _;

use crate::wire::decode::{self, DecodeError, Encoding};

/// The event JSON inside a store body, bounded by `limit` once decoded.
pub fn decode_store_body(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let trimmed = body.trim_ascii();
    if trimmed.first() == Some(&b'{') {
        return decode::decode(trimmed, Encoding::Identity, limit);
    }
    let corrupt = |problem: String| DecodeError::Corrupt {
        encoding: "base64",
        problem,
    };
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let decoded = engine
        .decode(trimmed)
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed.trim_ascii_end())
        })
        .map_err(|e| corrupt(format!("not JSON and not base64: {e}")))?;
    decode::decode(&decoded, decode::sniff(&decoded), limit)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use base64::Engine as _;

    use super::*;

    const EVENT: &[u8] = br#"{"message":"hello"}"#;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn json_base64_and_base64_zlib() {
        let b64 = base64::engine::general_purpose::STANDARD;
        for body in [
            EVENT.to_vec(),
            b64.encode(EVENT).into_bytes(),
            b64.encode(zlib(EVENT)).into_bytes(),
        ] {
            assert_eq!(decode_store_body(&body, 1024).as_deref(), Ok(EVENT));
        }
    }

    #[test]
    fn garbage_and_bombs() {
        assert!(matches!(
            decode_store_body(b"!!not base64!!", 1024),
            Err(DecodeError::Corrupt { .. })
        ));
        let bomb = base64::engine::general_purpose::STANDARD.encode(zlib(&vec![b' '; 1 << 20]));
        assert_eq!(
            decode_store_body(bomb.as_bytes(), 1024),
            Err(DecodeError::TooLarge { limit: 1024 })
        );
    }
}
