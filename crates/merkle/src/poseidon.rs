//! The Poseidon permutation (width 3, x⁵, 8 full and 57 partial rounds over BN254's Fr) and the sponge
//! snark-verifier's native `Poseidon` runs.
//!
//! Constants come from the Grain LFSR of the Poseidon paper (as the reference implementation and Scroll's
//! `poseidon-primitives` generate them, which halo2-base and snark-verifier use); the MDS matrix is the first
//! Cauchy matrix Grain yields. snark-verifier evaluates the same permutation with optimised constants and sparse
//! matrices; the result is the same function.
//!
//! Sponge: the state starts as `[2⁶⁴, 0, 0]`; inputs are absorbed two at a time into `state[1..3]`, each chunk
//! followed by a permutation. A final chunk of one input is padded with a 1; when the input length is even (zero
//! included) one more permutation absorbs the padding `[1, 0]`. The digest is `state[1]`.

use std::sync::OnceLock;

use halo2curves::bn256::Fr;
use halo2curves::ff::{Field, FromUniformBytes, PrimeField};

/// State width.
pub const T: usize = 3;
/// Inputs absorbed per permutation.
pub const RATE: usize = 2;
/// Full rounds (half before and half after the partial rounds).
pub const R_F: usize = 8;
/// Partial rounds.
pub const R_P: usize = 57;
/// Rounds in all.
pub const ROUNDS: usize = R_F + R_P;

/// Round constants and MDS matrix.
#[derive(Clone, Debug)]
pub struct Spec {
    /// `ROUNDS` rows of `T` constants, added before each round's S-boxes.
    pub round_constants: Vec<[Fr; T]>,
    /// The MDS matrix applied after each round's S-boxes.
    pub mds: [[Fr; T]; T],
}

impl Spec {
    /// The spec, generated once per process.
    pub fn get() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(Spec::generate)
    }

    /// Whether round `r` is a full round (all S-boxes) rather than a partial one (S-box on `state[0]` only).
    pub fn is_full(r: usize) -> bool {
        !(R_F / 2..R_F / 2 + R_P).contains(&r)
    }

    fn generate() -> Spec {
        let mut grain = Grain::new(T as u16, R_F as u16, R_P as u16);
        let round_constants = (0..ROUNDS)
            .map(|_| [(); T].map(|_| grain.field_element()))
            .collect();
        let (xs, ys) = loop {
            let vals: Vec<Fr> = (0..2 * T).map(|_| grain.field_element_wide()).collect();
            let mut unique: Vec<[u8; 32]> = vals.iter().map(|v| v.to_repr()).collect();
            unique.sort_unstable();
            unique.dedup();
            if unique.len() == vals.len() {
                break (vals[..T].to_vec(), vals[T..].to_vec());
            }
        };
        let mut mds = [[Fr::ZERO; T]; T];
        for (i, row) in mds.iter_mut().enumerate() {
            for (j, m) in row.iter_mut().enumerate() {
                // xs ∪ ys are distinct Grain outputs; a zero sum would be a 2⁻²⁵⁴ event that the test vectors
                // would catch, so the inverse of zero (zero) is not special-cased.
                *m = (xs[i] + ys[j]).invert().unwrap_or(Fr::ZERO);
            }
        }
        Spec {
            round_constants,
            mds,
        }
    }
}

/// The x⁵ S-box.
pub fn sbox(x: Fr) -> Fr {
    let x2 = x.square();
    x2.square() * x
}

/// Applies the permutation to `state` in place.
pub fn permute(state: &mut [Fr; T]) {
    let spec = Spec::get();
    for (r, c) in spec.round_constants.iter().enumerate() {
        for (s, c) in state.iter_mut().zip(c) {
            *s += c;
        }
        if Spec::is_full(r) {
            for s in state.iter_mut() {
                *s = sbox(*s);
            }
        } else {
            state[0] = sbox(state[0]);
        }
        let old = *state;
        for (s, row) in state.iter_mut().zip(&spec.mds) {
            *s = row.iter().zip(&old).map(|(m, x)| *m * x).sum();
        }
    }
}

/// The sponge's initial capacity element, `2⁶⁴` (variable-length hashing with one output).
pub fn initial_state() -> [Fr; T] {
    [Fr::from_u128(1u128 << 64), Fr::ZERO, Fr::ZERO]
}

/// The Poseidon digest of `inputs`, equal to snark-verifier's `Poseidon::<Fr, Fr, 3, 2>` after
/// `update(inputs)` and `squeeze()`.
pub fn hash(inputs: &[Fr]) -> Fr {
    let mut state = initial_state();
    for chunk in inputs.chunks(RATE) {
        for (s, x) in state[1..].iter_mut().zip(chunk) {
            *s += x;
        }
        if chunk.len() < RATE {
            state[1 + chunk.len()] += Fr::ONE;
        }
        permute(&mut state);
    }
    if inputs.len().is_multiple_of(RATE) {
        state[1] += Fr::ONE;
        permute(&mut state);
    }
    state[1]
}

/// The Grain LFSR in self-shrinking mode, seeded with the Poseidon parameters.
struct Grain {
    bits: std::collections::VecDeque<bool>,
}

impl Grain {
    fn new(t: u16, r_f: u16, r_p: u16) -> Self {
        let mut bits = Vec::with_capacity(80);
        let mut push = |value: u32, len: usize| {
            for i in (0..len).rev() {
                bits.push((value >> i) & 1 == 1);
            }
        };
        push(1, 2); // a prime field
        push(0, 4); // the x^α S-box
        push(Fr::NUM_BITS, 12);
        push(u32::from(t), 12);
        push(u32::from(r_f), 10);
        push(u32::from(r_p), 10);
        push((1 << 30) - 1, 30);
        let mut g = Grain { bits: bits.into() };
        for _ in 0..160 {
            g.raw_bit();
        }
        g
    }

    /// One step of the LFSR `b(i+80) = b(i+62) ⊕ b(i+51) ⊕ b(i+38) ⊕ b(i+23) ⊕ b(i+13) ⊕ b(i)`.
    fn raw_bit(&mut self) -> bool {
        let b = &self.bits;
        let new = b[62] ^ b[51] ^ b[38] ^ b[23] ^ b[13] ^ b[0];
        self.bits.pop_front();
        self.bits.push_back(new);
        new
    }

    /// Self-shrinking: of each pair of raw bits, output the second if the first is 1.
    fn bit(&mut self) -> bool {
        loop {
            let keep = self.raw_bit();
            let bit = self.raw_bit();
            if keep {
                return bit;
            }
        }
    }

    /// `NUM_BITS` bits, most significant first, as the little-endian bytes of an integer.
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut bytes = [0u8; N];
        let n = Fr::NUM_BITS as usize;
        for i in 0..n {
            if self.bit() {
                let pos = n - 1 - i;
                bytes[pos / 8] |= 1 << (pos % 8);
            }
        }
        bytes
    }

    /// A field element by rejection sampling (round constants).
    fn field_element(&mut self) -> Fr {
        loop {
            let mut repr = <Fr as PrimeField>::Repr::default();
            repr.as_mut().copy_from_slice(&self.bytes::<32>());
            if let Some(f) = Option::from(Fr::from_repr(repr)) {
                return f;
            }
        }
    }

    /// A field element reduced from the same bits, without rejection (the MDS matrix's points).
    fn field_element_wide(&mut self) -> Fr {
        Fr::from_uniform_bytes(&self.bytes::<64>())
    }
}
