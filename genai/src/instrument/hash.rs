//! [`KeyHasher`]: turns a cache key into the 16-hex-digit `cache.key_hash` the cache events carry.
//!
//! The hash is SipHash-2-4 (implemented here, so its output never changes with the Rust
//! release, unlike `std`'s `DefaultHasher`). [`KeyHasher::stable`] uses a fixed, published key:
//! the same cache key gives the same hash in every process and every run, so logs and traces can
//! be correlated. A short key can be found again by hashing guesses, though; when keys hold
//! guessable private text, use [`KeyHasher::with_secret`] with a secret of your own.

use std::fmt;

/// Hashes cache keys into `cache.key_hash` values.
///
/// ```
/// use llm_telemetry_genai::instrument::KeyHasher;
/// let hasher = KeyHasher::stable();
/// let hash = hasher.hash_hex(b"user:42:prompt");
/// assert_eq!(hash.len(), 16);
/// assert_eq!(hash, hasher.hash_hex(b"user:42:prompt"), "stable");
/// assert_ne!(hash, KeyHasher::with_secret([7; 16]).hash_hex(b"user:42:prompt"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHasher {
    k0: u64,
    k1: u64,
}

/// The fixed key of [`KeyHasher::stable`] (the ASCII of `llm-telemetry/v1`).
const STABLE_KEY: [u8; 16] = *b"llm-telemetry/v1";

impl KeyHasher {
    /// A hasher with a fixed key: the same input hashes the same everywhere.
    pub fn stable() -> Self {
        Self::with_secret(STABLE_KEY)
    }

    /// A hasher keyed with `secret`: hashes cannot be recomputed without it.
    pub fn with_secret(secret: [u8; 16]) -> Self {
        let mut low = [0u8; 8];
        let mut high = [0u8; 8];
        low.copy_from_slice(&secret[..8]);
        high.copy_from_slice(&secret[8..]);
        Self {
            k0: u64::from_le_bytes(low),
            k1: u64::from_le_bytes(high),
        }
    }

    /// SipHash-2-4 of `bytes`.
    pub fn hash(&self, bytes: &[u8]) -> u64 {
        siphash24(self.k0, self.k1, bytes)
    }

    /// The hash as 16 lowercase hex digits, without allocating.
    pub fn hash_hex(&self, bytes: &[u8]) -> HexHash {
        HexHash::new(self.hash(bytes))
    }
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        let kind = if *self == Self::stable() {
            "stable"
        } else {
            "secret"
        };
        write!(f, "KeyHasher({kind})")
    }
}

/// A 64-bit hash as 16 lowercase hex digits, on the stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexHash([u8; 16]);

impl HexHash {
    fn new(value: u64) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            let shift = 60 - 4 * i;
            *byte = DIGITS[((value >> shift) & 0xf) as usize];
        }
        Self(out)
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        // Infallible: every byte is an ASCII hex digit.
        std::str::from_utf8(&self.0).unwrap_or("0000000000000000")
    }
}

impl std::ops::Deref for HexHash {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<&str> for HexHash {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for HexHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for HexHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-2-4 (Aumasson and Bernstein, 2012).
fn siphash24(k0: u64, k1: u64, bytes: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = u64::from_le_bytes(word);
        v[3] ^= m;
        sip_round(&mut v);
        sip_round(&mut v);
        v[0] ^= m;
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = bytes.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference vectors of the SipHash paper (appendix A) and its reference implementation:
    /// key 00 01 … 0f, message 00 01 … (n-1).
    #[test]
    fn matches_the_reference_vectors() {
        let key: [u8; 16] = std::array::from_fn(|i| i as u8);
        let hasher = KeyHasher::with_secret(key);
        let message: Vec<u8> = (0u8..64).collect();
        assert_eq!(hasher.hash(&message[..0]), 0x726f_db47_dd0e_0e31);
        assert_eq!(hasher.hash(&message[..1]), 0x74f8_39c5_93dc_67fd);
        assert_eq!(hasher.hash(&message[..8]), 0x93f5_f579_9a93_2462);
        assert_eq!(hasher.hash(&message[..15]), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn hex_is_sixteen_lowercase_digits() {
        assert_eq!(
            HexHash::new(0x0123_4567_89ab_cdef).as_str(),
            "0123456789abcdef"
        );
        assert_eq!(HexHash::new(0).as_str(), "0000000000000000");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let text = format!("{:?}", KeyHasher::with_secret([0xab; 16]));
        assert_eq!(text, "KeyHasher(secret)");
    }
}
