//! Packing fixed-point values into field elements, and salted activation commitments.
//!
//! A value `v` with `-2²⁷ ≤ v < 2²⁷` becomes the 28-bit integer `u = v + 2²⁷`; nine of them make one element
//! `Σ uᵢ·2²⁸ⁱ` (252 bits, below the modulus), the last element taking what is left. The map is injective on
//! sequences of one length, which is all a commitment needs: both sides of a cut agree on the tensors and their
//! sizes through the plan. The circuit twin (`dzk-gadgets`) range-checks every value, so a prover cannot use a
//! value outside the range to make two sequences pack alike.

use halo2curves::bn256::Fr;
use halo2curves::ff::{Field, PrimeField};

use crate::{hash, MerkleError, TAG_ACT};

/// Bits per packed value.
pub const PACK_BITS: usize = 28;
/// Values per field element.
pub const PACK_PER_ELEMENT: usize = 9;
/// Added to each value to make it non-negative: `2^(PACK_BITS−1)`.
pub const PACK_OFFSET: i64 = 1 << (PACK_BITS - 1);

/// The packed field elements of `values`.
pub fn pack(values: &[i64]) -> Result<Vec<Fr>, MerkleError> {
    let shift = Fr::from_u128(1u128 << PACK_BITS);
    let mut out = Vec::with_capacity(values.len().div_ceil(PACK_PER_ELEMENT));
    for (n, group) in values.chunks(PACK_PER_ELEMENT).enumerate() {
        let mut acc = Fr::ZERO;
        let mut weight = Fr::ONE;
        for (i, &v) in group.iter().enumerate() {
            if !(-PACK_OFFSET..PACK_OFFSET).contains(&v) {
                return Err(MerkleError::OutOfRange {
                    position: n * PACK_PER_ELEMENT + i,
                    value: v,
                });
            }
            acc += Fr::from((v + PACK_OFFSET) as u64) * weight;
            weight *= shift;
        }
        out.push(acc);
    }
    Ok(out)
}

/// The salted commitment to a boundary's activations: `Poseidon(TAG_ACT, salt, pack(values))`.
pub fn commit(salt: Fr, values: &[i64]) -> Result<Fr, MerkleError> {
    let mut inputs = vec![Fr::from_u128(TAG_ACT), salt];
    inputs.extend(pack(values)?);
    Ok(hash(&inputs))
}
