//! The SRS directory `dzk setup` writes: `setup.json` (what made it) and `kzg_bn254_{k}.srs` (halo2's
//! `ParamsKZG` byte format, the format of the public ceremony files).

use std::path::{Path, PathBuf};

use halo2_proofs::halo2curves::bn256::Bn256;
use halo2_proofs::poly::commitment::Params;
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

/// Reads halo2 `ParamsKZG` bytes, refusing (not panicking on) malformed input.
pub fn read_params(bytes: &[u8], path: &Path) -> Result<ParamsKZG<Bn256>, SrsError> {
    let bad = |reason: String| SrsError::File {
        path: path.to_path_buf(),
        reason,
    };
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
    Ok((info, params))
}

/// `params` cut down to `2^k` points (every chunk's SRS is a prefix of one SRS).
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
    let mut p = params.clone();
    if k < p.k() {
        p.downsize(k);
    }
    Ok(p)
}
