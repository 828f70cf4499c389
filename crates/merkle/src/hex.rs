//! Field elements as text: `0x` and 64 hex digits, big-endian, canonical (less than the modulus).
//!
//! Use with serde as `#[serde(with = "dzk_merkle::hex")]`.

use halo2curves::bn256::Fr;
use halo2curves::ff::PrimeField;
use serde::{Deserialize, Deserializer, Serializer};

use crate::MerkleError;

/// `0x…` with 64 lower-case hex digits, most significant first.
pub fn to_hex(x: &Fr) -> String {
    let mut s = String::with_capacity(66);
    s.push_str("0x");
    for b in x.to_repr().as_ref().iter().rev() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parses [`to_hex`]'s form; rejects other lengths, non-hex digits and values not below the modulus.
pub fn from_hex(s: &str) -> Result<Fr, MerkleError> {
    let bad = || MerkleError::BadHex(s.chars().take(80).collect());
    let digits = s.strip_prefix("0x").ok_or_else(bad)?;
    if digits.len() != 64 || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut repr = <Fr as PrimeField>::Repr::default();
    for (i, byte) in repr.as_mut().iter_mut().enumerate() {
        let at = 62 - 2 * i;
        *byte = u8::from_str_radix(&digits[at..at + 2], 16).map_err(|_| bad())?;
    }
    Option::from(Fr::from_repr(repr)).ok_or_else(bad)
}

/// serde: writes [`to_hex`].
pub fn serialize<S: Serializer>(x: &Fr, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_hex(x))
}

/// serde: reads [`from_hex`].
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fr, D::Error> {
    let s = String::deserialize(d)?;
    from_hex(&s).map_err(serde::de::Error::custom)
}

/// serde for `Vec<Fr>`: `#[serde(with = "dzk_merkle::hex::vec")]`.
pub mod vec {
    use super::*;
    use serde::ser::SerializeSeq;

    /// serde: a list of [`to_hex`] strings.
    pub fn serialize<S: Serializer>(xs: &[Fr], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(xs.len()))?;
        for x in xs {
            seq.serialize_element(&to_hex(x))?;
        }
        seq.end()
    }

    /// serde: reads a list of [`from_hex`] strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Fr>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.iter()
            .map(|s| from_hex(s).map_err(serde::de::Error::custom))
            .collect()
    }
}
