//! The auditor's kit (`dzk export-verifier`): a directory with the plan, the chunks' verifying keys, the keys
//! `dzk aggregate` recorded, and `kit.dzk`, a manifest that holds the verifier's part of the SRS and lists every
//! other file with its digest. Kilobytes, where the run directory holds proving keys and model slices and the
//! SRS directory megabytes to gigabytes.
//!
//! Verifying a KZG proof needs only `g[0]`, `g2` and `s·g2` of the SRS (instances are evaluated, not committed,
//! and nothing else is read) and the domain size `2^k`, so one [`VerifierSrs`] serves every chunk's `k`. It
//! keeps `g[1]` as well, so that the SRS's identity ([`crate::srs::srs_id`]) and a dev setup's seed can be
//! recomputed from the kit alone; a pairing check ties `g[1]` to `s·g2`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dzk_format::run::{KitManifest, KitSrs};
use dzk_format::{Envelope, Kind};
use halo2_proofs::halo2curves::bn256::{Bn256, Fq, Fq2, Fr, G1Affine, G2Affine};
use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_proofs::halo2curves::group::GroupEncoding;
use halo2_proofs::halo2curves::pairing::Engine;
use halo2_proofs::halo2curves::CurveAffine;
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;

use crate::audit::Unreadable;

/// The kit's manifest file.
pub const MANIFEST: &str = "kit.dzk";

/// The verifier's part of an SRS: its first two G1 points, `g2` and `s·g2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifierSrs {
    /// `g[0]` and `g[1] = τ·g[0]`.
    pub g: [G1Affine; 2],
    /// The G2 generator.
    pub g2: G2Affine,
    /// `τ·g2`.
    pub s_g2: G2Affine,
}

impl VerifierSrs {
    /// The verifier's part of `params` (`None` for an SRS of one point).
    pub fn of(params: &ParamsKZG<Bn256>) -> Option<Self> {
        let g = params.get_g();
        Some(Self {
            g: [*g.first()?, *g.get(1)?],
            g2: params.g2(),
            s_g2: params.s_g2(),
        })
    }

    /// Parameters that verify proofs of circuits of `2^k` rows (and can do nothing else: they hold no other
    /// point).
    pub fn params(&self, k: u32) -> ParamsKZG<Bn256> {
        static BASE: OnceLock<ParamsKZG<Bn256>> = OnceLock::new();
        // `from_parts` is a method; any ParamsKZG serves to call it (it reads nothing from it).
        let base = BASE.get_or_init(|| {
            use rand::SeedableRng;
            ParamsKZG::<Bn256>::setup(1, rand_chacha::ChaCha20Rng::seed_from_u64(0))
        });
        base.from_parts(k, self.g.to_vec(), Some(Vec::new()), self.g2, self.s_g2)
    }

    /// The SRS's identity, as [`crate::srs::srs_id`] computes it from the whole SRS.
    pub fn id(&self) -> String {
        let mut h = blake3::Hasher::new();
        h.update(b"dzk srs id v1\0");
        for g in &self.g {
            h.update(g.to_bytes().as_ref());
        }
        h.update(self.g2.to_bytes().as_ref());
        h.update(self.s_g2.to_bytes().as_ref());
        h.finalize().to_hex().to_string()
    }

    /// The seed of the dev setup these points come from, if it is one of `0..below` (see
    /// [`crate::srs::dev_seed`]).
    pub fn dev_seed(&self, below: u64) -> Option<u64> {
        crate::srs::dev_seed_of(&self.g[1], below)
    }

    /// The points as the kit's manifest writes them: each as its affine coordinates `x ‖ y`, little-endian
    /// field bytes, `0x` hex. (Uncompressed, so that reading one needs no square root: halo2curves' point
    /// decompression panics on some malformed encodings, which the fuzz test found.)
    pub fn to_kit(&self) -> KitSrs {
        let hex = |parts: &[&[u8]]| format!("0x{}", to_hex_bytes(&parts.concat()));
        KitSrs {
            g0: hex(&[&self.g[0].x.to_bytes(), &self.g[0].y.to_bytes()]),
            g1: hex(&[&self.g[1].x.to_bytes(), &self.g[1].y.to_bytes()]),
            g2: hex(&[&self.g2.x.to_bytes(), &self.g2.y.to_bytes()]),
            s_g2: hex(&[&self.s_g2.x.to_bytes(), &self.s_g2.y.to_bytes()]),
        }
    }

    /// The points of a kit's manifest: each must be a point of its curve other than the identity, and
    /// `e(g1, g2) = e(g0, s·g2)` (the G1 and G2 points share one secret).
    pub fn from_kit(k: &KitSrs) -> Result<Self, String> {
        fn g1(name: &str, text: &str) -> Result<G1Affine, String> {
            let mut b = [0u8; 64];
            fill(name, text, &mut b)?;
            let coord = |i: usize| -> Option<Fq> {
                let mut c = [0u8; 32];
                c.copy_from_slice(&b[32 * i..32 * (i + 1)]);
                Option::from(Fq::from_bytes(&c))
            };
            let (x, y) = coord(0)
                .zip(coord(1))
                .ok_or_else(|| format!("{name}: a coordinate is not a field element"))?;
            Option::<G1Affine>::from(G1Affine::from_xy(x, y))
                .filter(|p| !bool::from(p.is_identity()))
                .ok_or_else(|| format!("{name} is not a point of G1 other than the identity"))
        }
        fn g2(name: &str, text: &str) -> Result<G2Affine, String> {
            let mut b = [0u8; 128];
            fill(name, text, &mut b)?;
            // Fq2::from_bytes panics on a non-canonical half: read the halves (c0 ‖ c1) one by one.
            let fq = |at: usize| -> Option<Fq> {
                let mut c = [0u8; 32];
                c.copy_from_slice(&b[at..at + 32]);
                Option::from(Fq::from_bytes(&c))
            };
            let coord = |i: usize| -> Option<Fq2> {
                Some(Fq2 {
                    c0: fq(64 * i)?,
                    c1: fq(64 * i + 32)?,
                })
            };
            let (x, y) = coord(0)
                .zip(coord(1))
                .ok_or_else(|| format!("{name}: a coordinate is not a field element"))?;
            Option::<G2Affine>::from(G2Affine::from_xy(x, y))
                .filter(|p| !bool::from(p.is_identity()))
                .ok_or_else(|| format!("{name} is not a point of G2 other than the identity"))
        }
        let s = Self {
            g: [g1("g0", &k.g0)?, g1("g1", &k.g1)?],
            g2: g2("g2", &k.g2)?,
            s_g2: g2("s_g2", &k.s_g2)?,
        };
        if Bn256::pairing(&s.g[1], &s.g2) != Bn256::pairing(&s.g[0], &s.s_g2) {
            return Err("g1 and s_g2 are not of one setup (e(g1, g2) ≠ e(g0, s_g2))".into());
        }
        Ok(s)
    }
}

fn to_hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Fills `out` from `0x`-prefixed hex of exactly its length.
fn fill(name: &str, text: &str, out: &mut [u8]) -> Result<(), String> {
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| format!("{name} is not 0x-prefixed hex"))?;
    if digits.len() != 2 * out.len() || !digits.is_ascii() {
        return Err(format!(
            "{name} has {} hex digits, a point has {}",
            digits.len(),
            2 * out.len()
        ));
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("{name} is not hex"))?;
    }
    Ok(())
}

/// A kit read and checked: its manifest and SRS points; every file it lists has the digest it lists.
#[derive(Clone, Debug)]
pub struct Kit {
    /// The kit directory.
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: KitManifest,
    /// The verifier's part of the SRS.
    pub srs: VerifierSrs,
    /// The published root the kit carries, if any.
    pub root: Option<Fr>,
}

/// Reads the kit in `dir`: the manifest, its SRS points, every listed file's digest, and the plan's digest.
pub fn read_kit(dir: &Path) -> Result<Kit, Unreadable> {
    let path = dir.join(MANIFEST);
    let bad = |path: &Path, reason: String| Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| {
        bad(
            &path,
            format!("{e} (a kit is what `dzk export-verifier` writes)"),
        )
    })?;
    let env = Envelope::decode(&bytes, Kind::Kit).map_err(|e| bad(&path, e.to_string()))?;
    let manifest: KitManifest = serde_json::from_slice(&env.body)
        .map_err(|e| bad(&path, format!("not a kit manifest: {e}")))?;
    let srs = VerifierSrs::from_kit(&manifest.srs).map_err(|e| bad(&path, format!("SRS: {e}")))?;
    if srs.id() != manifest.srs_id {
        return Err(bad(
            &path,
            "the SRS id it states is not its points' id".into(),
        ));
    }
    for (name, digest) in &manifest.files {
        let safe = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !safe {
            return Err(bad(&path, format!("lists a file named {name:?}")));
        }
        let file = dir.join(name);
        let got = std::fs::read(&file)
            .map(|b| blake3::hash(&b).to_hex().to_string())
            .map_err(|e| bad(&file, e.to_string()))?;
        if &got != digest {
            return Err(bad(
                &file,
                "not the file the kit's manifest lists (its digest differs)".into(),
            ));
        }
    }
    if !manifest.files.contains_key(crate::audit::PLAN) {
        return Err(bad(&path, "lists no plan.dzk".into()));
    }
    let plan = crate::audit::read_plan(dir)?;
    if plan.digest() != manifest.plan_digest {
        return Err(bad(
            &dir.join(crate::audit::PLAN),
            "not the plan the kit was made for".into(),
        ));
    }
    let root = match &manifest.root {
        None => None,
        Some(r) => {
            Some(dzk_merkle::hex::from_hex(r).map_err(|e| bad(&path, format!("root: {e}")))?)
        }
    };
    Ok(Kit {
        dir: dir.to_path_buf(),
        manifest,
        srs,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::poly::commitment::Params;
    use rand::SeedableRng;

    fn setup(seed: u64) -> ParamsKZG<Bn256> {
        ParamsKZG::<Bn256>::setup(4, rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn the_points_round_trip_and_keep_the_srs_id() {
        let p = setup(3);
        let v = VerifierSrs::of(&p).expect("points");
        assert_eq!(VerifierSrs::from_kit(&v.to_kit()), Ok(v));
        assert_eq!(v.id(), crate::srs::srs_id(&p));
        assert_eq!(v.dev_seed(8), Some(3));
        let q = v.params(20);
        assert_eq!((q.k(), q.n()), (20, 1 << 20));
        assert_eq!((q.g2(), q.s_g2()), (p.g2(), p.s_g2()));
    }

    #[test]
    fn points_of_two_setups_or_no_points_are_refused() {
        let (a, b) = (
            VerifierSrs::of(&setup(1)).expect("a"),
            VerifierSrs::of(&setup(2)).expect("b"),
        );
        let mut mixed = a.to_kit();
        mixed.s_g2 = b.to_kit().s_g2;
        let err = VerifierSrs::from_kit(&mixed).expect_err("mixed");
        assert!(err.contains("not of one setup"), "{err}");
        let mut short = a.to_kit();
        short.g1.pop();
        assert!(VerifierSrs::from_kit(&short).is_err());
        // Bytes of the right length that are no point: an error, never a panic (halo2curves' decompression of
        // some such G2 encodings panics; the manifest's uncompressed points need none).
        for bytes in ["00", "11", "ff", "7f"] {
            let mut off = a.to_kit();
            off.g0 = format!("0x{}", bytes.repeat(64));
            off.g2 = format!("0x{}", bytes.repeat(128));
            assert!(VerifierSrs::from_kit(&off).is_err(), "{bytes}");
            let mut off = a.to_kit();
            off.s_g2 = format!("0x{}", bytes.repeat(128));
            assert!(VerifierSrs::from_kit(&off).is_err(), "{bytes}");
        }
    }
}
