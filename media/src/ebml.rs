//! EBML, the binary format under Matroska (RFC 8794): element IDs, variable-size integers
//! ("VINTs") and elements holding unsigned integers, floats, strings, bytes or other elements.
//! Only writing; every function returns the bytes of one whole element.

/// The size written for an element whose size is not known yet: eight bytes, all value bits
/// set. Readers treat it as "unknown size"; the writer patches it once the size is known.
pub const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// The Void element, which readers skip: used to reserve room to rewrite later.
pub const VOID: u32 = 0xEC;

/// `value` as a VINT of the fewest bytes (1 to 8). Values of 2^56 - 1 and more cannot be sizes.
pub fn vint(value: u64) -> Vec<u8> {
    let len = (1..=8).find(|&len| value < max_vint(len)).unwrap_or(8);
    vint_of_len(value, len)
}

/// `value` as a VINT of exactly `len` bytes (1 to 8), which must fit: `value < 2^(7·len) - 1`.
pub fn vint_of_len(value: u64, len: usize) -> Vec<u8> {
    let len = len.clamp(1, 8);
    debug_assert!(
        value < max_vint(len),
        "{value} does not fit a {len}-byte VINT"
    );
    let marked = value | (1u64 << (7 * len));
    marked.to_be_bytes()[8 - len..].to_vec()
}

/// The first value too large for a `len`-byte VINT (all ones is reserved for "unknown").
fn max_vint(len: usize) -> u64 {
    (1u64 << (7 * len)) - 1
}

/// An element ID as written: its bytes without leading zeros (IDs keep their marker bit).
pub fn id_bytes(id: u32) -> Vec<u8> {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    bytes[skip..].to_vec()
}

/// An element with this body.
pub fn bytes(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = id_bytes(id);
    out.extend(vint(body.len() as u64));
    out.extend_from_slice(body);
    out
}

/// An element with this body and its size written in exactly `size_len` bytes (to make an
/// element exactly as long as the room it must fill).
pub fn bytes_with_size_len(id: u32, body: &[u8], size_len: usize) -> Vec<u8> {
    let mut out = id_bytes(id);
    out.extend(vint_of_len(body.len() as u64, size_len));
    out.extend_from_slice(body);
    out
}

/// A master element: its children, concatenated.
pub fn master(id: u32, children: &[Vec<u8>]) -> Vec<u8> {
    bytes(id, &children.concat())
}

/// An unsigned integer element, in the fewest bytes (at least one).
pub fn uint(id: u32, value: u64) -> Vec<u8> {
    let be = value.to_be_bytes();
    let skip = be.iter().take_while(|&&b| b == 0).count().min(7);
    bytes(id, &be[skip..])
}

/// A float element, always eight bytes (so it can be patched in place).
pub fn float(id: u32, value: f64) -> Vec<u8> {
    bytes(id, &value.to_be_bytes())
}

/// A string element (ASCII or UTF-8).
pub fn string(id: u32, value: &str) -> Vec<u8> {
    bytes(id, value.as_bytes())
}

/// A Void element exactly `len` bytes long, or `None` for a length of one (no element is that
/// short). A length of zero gives no bytes.
pub fn void(len: usize) -> Option<Vec<u8>> {
    match len {
        0 => Some(Vec::new()),
        1 => None,
        // ID (1 byte) + an 8-byte size + body, or a 1-byte size for short ones.
        2..=9 => Some(bytes_with_size_len(VOID, &vec![0; len - 2], 1)),
        _ => Some(bytes_with_size_len(VOID, &vec![0; len - 9], 8)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vints_and_ids() {
        assert_eq!(vint(0), [0x80]);
        assert_eq!(vint(126), [0xFE]);
        assert_eq!(vint(127), [0x40, 0x7F]);
        assert_eq!(vint_of_len(5, 8), [0x01, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(id_bytes(0x1A45_DFA3), [0x1A, 0x45, 0xDF, 0xA3]);
        assert_eq!(id_bytes(0xEC), [0xEC]);
        assert_eq!(uint(0xD7, 1), [0xD7, 0x81, 0x01]);
        assert_eq!(uint(0xD7, 0), [0xD7, 0x81, 0x00]);
        for len in [0, 2, 3, 9, 10, 200] {
            assert_eq!(void(len).map(|v| v.len()), Some(len));
        }
        assert_eq!(void(1), None);
    }
}
