//! The development SRS, computed with fixed-base windows: the same points as halo2's `ParamsKZG::setup` for
//! the same random `s`, about ten times faster (each of the `2·2^k` multiples of the generator is 32 additions
//! of precomputed points instead of a double-and-add over 254 bits).

use halo2_proofs::arithmetic::parallelize;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine, G2Affine, G1};
use halo2_proofs::halo2curves::ff::{BatchInvert, Field, PrimeField};
use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_proofs::halo2curves::group::{Curve, Group};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use rand::RngCore;

/// `table[w][b] = b · 256^w · G1` for the 32 byte-windows of a scalar.
struct FixedBase {
    table: Vec<Vec<G1Affine>>,
}

impl FixedBase {
    fn generator() -> Self {
        let mut base = G1::generator();
        let mut table = Vec::with_capacity(32);
        for _ in 0..32 {
            let mut row = vec![G1::identity(); 256];
            for b in 1..256 {
                row[b] = row[b - 1] + base;
            }
            let mut affine = vec![G1Affine::identity(); 256];
            G1::batch_normalize(&row, &mut affine);
            table.push(affine);
            base = row[255] + base;
        }
        Self { table }
    }

    fn mul(&self, scalar: &Fr) -> G1 {
        let repr = scalar.to_repr();
        let mut acc = G1::identity();
        for (w, &b) in repr.as_ref().iter().enumerate() {
            if b != 0 {
                acc += self.table[w][b as usize];
            }
        }
        acc
    }

    /// `scalars[i] · G1` for every i, in affine form, on every core.
    fn mul_all(&self, scalars: &[Fr]) -> Vec<G1Affine> {
        let mut out = vec![G1Affine::identity(); scalars.len()];
        parallelize(&mut out, |chunk, start| {
            let projective: Vec<G1> = scalars[start..start + chunk.len()]
                .iter()
                .map(|s| self.mul(s))
                .collect();
            G1::batch_normalize(&projective, chunk);
        });
        out
    }
}

/// The SRS of size `2^k` for the secret `s = Fr::random(rng)`, as `ParamsKZG::setup(k, rng)` makes it.
pub fn setup(k: u32, rng: impl RngCore) -> ParamsKZG<Bn256> {
    assert!(k <= Fr::S, "k = {k} is beyond BN254's two-adicity");
    let n = 1usize << k;
    let s = Fr::random(rng);
    let base = FixedBase::generator();
    // Powers of s.
    let mut powers = vec![Fr::ONE; n];
    for i in 1..n {
        powers[i] = powers[i - 1] * s;
    }
    let g = base.mul_all(&powers);
    // Lagrange basis at s over the 2^k-th roots of unity: L_i(s) = (s^n − 1)/n · ω^i / (s − ω^i).
    let mut omega = Fr::ROOT_OF_UNITY;
    for _ in k..Fr::S {
        omega = omega.square();
    }
    let n_inv: Fr = Option::from(Fr::from(n as u64).invert()).expect("n is not 0 mod r");
    let multiplier = (s.pow_vartime([n as u64]) - Fr::ONE) * n_inv;
    let mut roots = vec![Fr::ONE; n];
    for i in 1..n {
        roots[i] = roots[i - 1] * omega;
    }
    let mut denominators: Vec<Fr> = roots.iter().map(|w| s - w).collect();
    denominators.batch_invert();
    let lagrange: Vec<Fr> = roots
        .iter()
        .zip(&denominators)
        .map(|(w, d)| multiplier * w * d)
        .collect();
    let g_lagrange = base.mul_all(&lagrange);
    let g2 = G2Affine::generator();
    let s_g2 = (g2 * s).to_affine();
    // `from_parts` is a method: any params serve as the receiver.
    let shell = ParamsKZG::<Bn256>::setup(1, rand::rngs::mock::StepRng::new(1, 1));
    shell.from_parts(k, g, Some(g_lagrange), g2, s_g2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::poly::commitment::{Params, ParamsProver};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn the_fixed_base_setup_equals_halo2s_point_for_point() {
        for k in [1, 4, 9] {
            let ours = setup(k, ChaCha20Rng::seed_from_u64(11));
            let theirs = ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::seed_from_u64(11));
            assert_eq!(ours.k(), k);
            assert_eq!(ours.get_g(), theirs.get_g(), "k = {k}");
            assert_eq!(ours.s_g2(), theirs.s_g2());
            assert_eq!(ours.g2(), theirs.g2());
            let (mut a, mut b) = (vec![], vec![]);
            ours.write(&mut a).expect("write");
            theirs.write(&mut b).expect("write");
            assert_eq!(a, b);
        }
        // Another seed gives another SRS.
        let other = setup(4, ChaCha20Rng::seed_from_u64(12));
        assert_ne!(
            other.s_g2(),
            setup(4, ChaCha20Rng::seed_from_u64(11)).s_g2()
        );
    }
}
