//! The SRS directory `dzk setup` writes: `setup.json` (what made it) and `kzg_bn254_{k}.srs` (halo2's
//! `ParamsKZG` byte format, the format of the public ceremony files).

use std::path::{Path, PathBuf};

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use serde::{Deserialize, Serialize};

/// `setup.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupInfo {
    /// The SRS's size: `2^k` points.
    pub k: u32,
    /// The SRS file, relative to the directory.
    pub file: String,
    /// `Some(seed)` for a deterministic dev setup. **Insecure**: anyone with the seed can forge proofs.
    pub insecure_dev_seed: Option<u64>,
    /// Where it came from: `"dev"` or the imported file's name.
    pub source: String,
}

impl SetupInfo {
    /// A one-line warning for insecure setups, `None` for imported ones.
    pub fn warning(&self) -> Option<String> {
        self.insecure_dev_seed.map(|seed| {
            format!(
                "INSECURE dev setup (seed {seed}): anyone who knows the seed can forge proofs; use `dzk setup \
                 --import` with a ceremony SRS for real runs"
            )
        })
    }
}

/// Why an SRS directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SrsError {
    /// A file is missing or unreadable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The SRS is smaller than a circuit needs.
    #[error("the SRS in {dir} has k = {have}, a chunk needs k = {need}")]
    TooSmall {
        /// The directory.
        dir: PathBuf,
        /// Its k.
        have: u32,
        /// The k asked for.
        need: u32,
    },
}

/// The largest SRS dzk reads: `2^28` points (a 34 GB file).
pub const MAX_K: u32 = 28;
/// Bytes of one G1 point in halo2's raw format (two 32-byte coordinates).
const G1_RAW: usize = 64;
/// Bytes of one G2 point in halo2's raw format.
const G2_RAW: usize = 128;

/// Reads halo2 `ParamsKZG` bytes, refusing (not panicking on) malformed input.
pub fn read_params(bytes: &[u8], path: &Path) -> Result<ParamsKZG<Bn256>, SrsError> {
    let bad = |reason: String| SrsError::File {
        path: path.to_path_buf(),
        reason,
    };
    // halo2's reader allocates `2^k` points from the file's first four bytes before reading one: check the
    // length that k implies first, so a damaged k is an error and not an attempt at a 64 GB allocation.
    let k = bytes
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| bad("too short for an SRS".into()))?;
    if k > MAX_K {
        return Err(bad(format!(
            "says k = {k}, above the largest dzk reads ({MAX_K})"
        )));
    }
    let want = 4 + 2 * (1usize << k) * G1_RAW + 2 * G2_RAW;
    if bytes.len() != want {
        return Err(bad(format!(
            "holds {} bytes, and an SRS of k = {k} in halo2's raw format is {want}",
            bytes.len()
        )));
    }
    // halo2's reader asserts on some malformed inputs; a hostile file must be an error, not a crash.
    let res = std::panic::catch_unwind(|| ParamsKZG::<Bn256>::read(&mut &bytes[..]));
    match res {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(bad(format!("not a KZG SRS: {e}"))),
        Err(_) => Err(bad("not a KZG SRS (malformed)".into())),
    }
}

/// The setup description and the SRS of directory `dir`.
pub fn load(dir: &Path) -> Result<(SetupInfo, ParamsKZG<Bn256>), SrsError> {
    let info_path = dir.join("setup.json");
    let text = std::fs::read_to_string(&info_path).map_err(|e| SrsError::File {
        path: info_path.clone(),
        reason: format!("{e} (run `dzk setup` first)"),
    })?;
    let info: SetupInfo = serde_json::from_str(&text).map_err(|e| SrsError::File {
        path: info_path.clone(),
        reason: format!("not a setup description: {e}"),
    })?;
    let path = dir.join(&info.file);
    let bytes = std::fs::read(&path).map_err(|e| SrsError::File {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let params = read_params(&bytes, &path)?;
    if params.k() != info.k {
        return Err(SrsError::File {
            path,
            reason: format!("holds k = {}, setup.json says {}", params.k(), info.k),
        });
    }
    let mut info = info;
    if info.insecure_dev_seed.is_none() {
        // setup.json is one edit away from hiding a dev setup: recognise one by its points.
        if let Some(seed) = dev_seed(&params, DEV_SEEDS_RECOGNISED) {
            info.insecure_dev_seed = Some(seed);
            info.source = format!(
                "dev (recognised by its points; setup.json says {:?} and no seed)",
                info.source
            );
        }
    }
    Ok((info, params))
}

/// Dev seeds below this are recognised by the SRS's points whatever setup.json says.
pub const DEV_SEEDS_RECOGNISED: u64 = 1024;

/// The seed of `dzk setup --k K --seed S` that made `params`, if it is one of `0..below`: its secret `s` is
/// the first `Fr` drawn from ChaCha20 seeded with S, and its second point is `s·G1`.
pub fn dev_seed(params: &ParamsKZG<Bn256>, below: u64) -> Option<u64> {
    dev_seed_of(params.get_g().get(1)?, below)
}

/// [`dev_seed`] from an SRS's second point alone.
pub fn dev_seed_of(point: &G1Affine, below: u64) -> Option<u64> {
    use halo2_proofs::halo2curves::ff::Field;
    use halo2_proofs::halo2curves::group::Curve;
    use rand::SeedableRng;
    let generator = G1Affine::generator();
    (0..below).find(|&seed| {
        let s = Fr::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed));
        (generator * s).to_affine() == *point
    })
}

/// The SRS's identity: BLAKE3 over its first two G1 points, `g2` and `s·g2`, which every prefix of one setup
/// shares (the k = 22 SRS and its cut-down k = 14 copy have the same id). Keygen records it in the plan; a
/// verifier given another SRS says so.
pub fn srs_id(params: &ParamsKZG<Bn256>) -> String {
    crate::kit::VerifierSrs::of(params).map_or_else(
        || {
            // An SRS of one point (k = 0) verifies nothing dzk makes; give it an id of its own all the same.
            let mut h = blake3::Hasher::new();
            h.update(b"dzk srs id v1 (one point)\0");
            h.finalize().to_hex().to_string()
        },
        |v| v.id(),
    )
}

/// The cache file of the SRS in `dir` cut down to `2^k` points (its Lagrange basis is what costs).
pub fn downsized_path(dir: &Path, k: u32) -> PathBuf {
    dir.join(format!("downsized-k{k}.srs"))
}

/// `params` cut down to `2^k` points (every chunk's SRS is a prefix of one SRS).
///
/// Cutting down recomputes the Lagrange basis (an FFT over `2^k` curve points: seconds at k = 15, minutes at
/// k = 20), so the result is kept in `dir` as `downsized-k{k}.srs` (halo2's bytes, then their blake3 hash) and
/// read from there by every later command. A cache file is used only when its hash matches and its points are a
/// prefix of `params` (same `g`, `g2`, `s_g2`), so a damaged file or one left from another SRS is recomputed
/// and replaced. A directory that cannot be written (an auditor's read-only copy) only loses the cache.
pub fn downsized(
    params: &ParamsKZG<Bn256>,
    k: u32,
    dir: &Path,
) -> Result<ParamsKZG<Bn256>, SrsError> {
    if k > params.k() {
        return Err(SrsError::TooSmall {
            dir: dir.to_path_buf(),
            have: params.k(),
            need: k,
        });
    }
    if k == params.k() {
        return Ok(params.clone());
    }
    let path = downsized_path(dir, k);
    if let Some(p) = read_downsized(&path, params, k) {
        return Ok(p);
    }
    let mut p = params.clone();
    p.downsize(k);
    let _ = write_downsized(&path, &p);
    Ok(p)
}

/// The cached SRS at `path`, if it is sound: its checksum matches and it is `params`' prefix of `2^k` points.
fn read_downsized(path: &Path, params: &ParamsKZG<Bn256>, k: u32) -> Option<ParamsKZG<Bn256>> {
    let bytes = std::fs::read(path).ok()?;
    let split = bytes.len().checked_sub(32)?;
    let (body, hash) = bytes.split_at(split);
    if blake3::hash(body).as_bytes() != hash {
        return None;
    }
    let p = read_params(body, path).ok()?;
    let n = 1usize << k;
    let prefix = params.get_g().get(..n)?;
    (p.k() == k && p.get_g() == prefix && p.g2() == params.g2() && p.s_g2() == params.s_g2())
        .then_some(p)
}

/// Writes the cache file (temporary name, then rename: a reader never sees half a file).
fn write_downsized(path: &Path, p: &ParamsKZG<Bn256>) -> std::io::Result<()> {
    let mut body = Vec::new();
    p.write(&mut body)?;
    let hash = blake3::hash(&body);
    body.extend_from_slice(hash.as_bytes());
    // Unique per process and call: `dzk prove` cuts the SRS down on several threads at once.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("srs.tmp-{}-{call}", std::process::id()));
    std::fs::write(&tmp, &body)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use halo2_proofs::halo2curves::bn256::Bn256;
    use halo2_proofs::poly::commitment::Params;
    use halo2_proofs::poly::kzg::commitment::ParamsKZG;
    use rand::SeedableRng;

    use super::{dev_seed, downsized, downsized_path, srs_id};

    fn srs(seed: u64) -> ParamsKZG<Bn256> {
        ParamsKZG::setup(5, rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    fn bytes(p: &ParamsKZG<Bn256>) -> Vec<u8> {
        let mut b = Vec::new();
        p.write(&mut b).expect("writes");
        b
    }

    #[test]
    fn a_downsized_srs_is_cached_checked_and_recomputed_when_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let params = srs(1);
        let mut want = params.clone();
        want.downsize(3);
        let got = downsized(&params, 3, dir.path()).expect("downsizes");
        assert!(bytes(&got) == bytes(&want));
        let path = downsized_path(dir.path(), 3);
        let cached = std::fs::read(&path).expect("cached");
        // The next call reads the file: one that is sound but holds another Lagrange basis is what it returns.
        let mut other = bytes(&want);
        // Layout: k (4 bytes), g (8 points of 64 bytes), the Lagrange basis (8 points), g2, s_g2.
        let lagrange = 4 + 8 * 64;
        let (first, second) = other[lagrange..lagrange + 128].split_at_mut(64);
        first.swap_with_slice(second);
        let mut file = other.clone();
        file.extend_from_slice(blake3::hash(&other).as_bytes());
        std::fs::write(&path, &file).expect("writes");
        assert!(bytes(&downsized(&params, 3, dir.path()).expect("reads")) == other);
        // A damaged file (checksum) is recomputed and replaced.
        let mut damaged = cached.clone();
        damaged[100] ^= 1;
        std::fs::write(&path, &damaged).expect("writes");
        assert!(bytes(&downsized(&params, 3, dir.path()).expect("recomputes")) == bytes(&want));
        assert!(std::fs::read(&path).expect("rewritten") == cached);
        // A cache left by another SRS is not used.
        let third = srs(2);
        let mut want3 = third.clone();
        want3.downsize(3);
        assert!(bytes(&downsized(&third, 3, dir.path()).expect("recomputes")) == bytes(&want3));
        // k above the SRS's is an error; k equal to it needs no cache.
        assert!(downsized(&params, 6, dir.path()).is_err());
        assert!(bytes(&downsized(&params, 5, dir.path()).expect("same")) == bytes(&params));
        assert!(!downsized_path(dir.path(), 5).exists());
        // A directory that cannot be written still gives the right SRS.
        let missing = dir.path().join("not-there");
        assert!(bytes(&downsized(&params, 3, &missing).expect("computes")) == bytes(&want));
    }

    #[test]
    fn a_dev_srs_is_recognised_by_its_points_and_the_id_survives_cutting_down() {
        let params = srs(7);
        assert_eq!(dev_seed(&params, 1024), Some(7));
        assert_eq!(dev_seed(&params, 7), None);
        let mut small = params.clone();
        small.downsize(2);
        assert_eq!(srs_id(&small), srs_id(&params));
        assert_eq!(dev_seed(&small, 1024), Some(7));
        assert_ne!(srs_id(&srs(8)), srs_id(&params));
    }
}
