//! The aggregation verifying key (recorded in the run, cached on the auditor's machine, or rebuilt) and
//! `verify-all --aggregate`'s check of an aggregated proof.

use std::path::{Path, PathBuf};

use anyhow::Context;
use dzk_aggregate::{ConfigParams, Shape, Transcript, ACCUMULATOR_LIMBS};
use dzk_format::run::{AggregateMeta, Plan};
use dzk_format::{Envelope, Kind};
use dzk_merkle::hex::{from_hex, to_hex};
use dzk_verifier::audit::{read_plan, SrsSource};
use dzk_verifier::srs;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use serde_json::json;

use crate::io::write_atomic;
use crate::run::{bar, spinner, Rejected};

use super::aggregate::{
    encoding, flat_group, keys, shape, step_message, transcript_of, trusted, trusted_kit, Trusted,
    MIN_AGG_K,
};

/// An aggregated proof's tree: proofs per node and every node's configuration by level (one node, the root,
/// for a flat aggregation).
pub(super) struct TreeShape {
    pub(super) group: usize,
    pub(super) configs: Vec<Vec<ConfigParams>>,
}

/// Where `verify-all --aggregate` keeps the aggregation verifying keys it rebuilt: `$DZK_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/dzk`, else `~/.cache/dzk`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DZK_CACHE_DIR") {
        return Some(d.into());
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("dzk"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("dzk"))
}

/// Everything the aggregation verifying key depends on, hashed: this dzk's version (the circuit's code), the
/// plan (its digest and every chunk's verifying-key digest), the tree's shape and every node's configuration,
/// the statement's shape, and the SRS's id.
fn cache_key(t: &Trusted, tree: &TreeShape, s: &Shape) -> anyhow::Result<String> {
    let mut h = blake3::Hasher::new();
    h.update(b"dzk aggregation verifying key\0");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0");
    h.update(t.plan.digest().as_bytes());
    for c in &t.plan.chunks {
        h.update(c.vk_blake3.as_deref().unwrap_or("-").as_bytes());
        h.update(b"\0");
    }
    h.update(&(tree.group as u64).to_le_bytes());
    for level in &tree.configs {
        h.update(&(level.len() as u64).to_le_bytes());
        for config in level {
            h.update(
                &serde_json::to_vec(config).context("encoding the aggregation configuration")?,
            );
            h.update(b"\0");
        }
    }
    h.update(&(s.public_inputs as u64).to_le_bytes());
    h.update(&(s.public_outputs as u64).to_le_bytes());
    // Which chunks state them (the parts of a split last layer, or the last chunk).
    h.update(&(s.output_parts.len() as u64).to_le_bytes());
    for n in &s.output_parts {
        h.update(&(*n as u64).to_le_bytes());
    }
    // The setup: its id fixes the secret, so every point of every size (the aggregation key's commitments among
    // them) follows from it and the configurations above.
    h.update(t.srs_id.as_bytes());
    Ok(h.finalize().to_hex().to_string())
}

/// Where the aggregation verifying key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VkSource {
    /// Rebuilt from the chunks' keys in this run (minutes).
    Rebuilt,
    /// Read from this machine's cache, where an earlier rebuild with the same inputs put it.
    Cache,
    /// Read from the run directory, where `dzk aggregate` wrote it and the plan records its digest.
    Recorded,
}

impl VkSource {
    /// `"rebuilt"` or `"cache"`.
    pub fn as_str(self) -> &'static str {
        match self {
            VkSource::Rebuilt => "rebuilt",
            VkSource::Cache => "cache",
            VkSource::Recorded => "recorded",
        }
    }
}

/// A cached key file: the key's bytes, then their blake3 hash (a torn or damaged file is detected and
/// rebuilt, never used).
fn read_cached(
    path: &Path,
    config: ConfigParams,
) -> Result<Option<VerifyingKey<G1Affine>>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let Some(split) = bytes.len().checked_sub(32) else {
        return Err("too short".into());
    };
    let (body, hash) = bytes.split_at(split);
    if blake3::hash(body).as_bytes() != hash {
        return Err("its checksum does not match".into());
    }
    dzk_aggregate::read_verifying_key(body, config).map(Some)
}

/// The aggregation verifying key for the run: from `cache` when an earlier rebuild from the same trusted inputs
/// left it there, else rebuilt from the chunks' keys (and then cached). A rebuild that fails goes to `reject`.
#[allow(clippy::too_many_arguments)]
fn aggregation_vk(
    run: &Path,
    t: &Trusted,
    tree: &TreeShape,
    s: &Shape,
    cache: Option<&Path>,
    use_recorded: bool,
    reject: impl Fn(String) -> anyhow::Error,
) -> anyhow::Result<(VerifyingKey<G1Affine>, VkSource)> {
    let Some(&config) = tree.configs.last().and_then(|l| l.first()) else {
        return Err(reject("no aggregation configuration".into()));
    };
    // One hash of everything the key depends on (the whole SRS among it) names both the recorded key and the
    // cached one.
    let key = cache_key(t, tree, s)?;
    if use_recorded {
        match read_recorded(run, t, &key, config) {
            Ok(Some(vk)) => {
                eprintln!("using the aggregation verifying key the plan records");
                return Ok((vk, VkSource::Recorded));
            }
            Ok(None) => {}
            Err(why) => eprintln!("warning: {why}; rebuilding the key from the chunks' keys"),
        }
    }
    let path = cache.map(|dir| dir.join(format!("aggregation-vk-{key}.bin")));
    if let Some(path) = &path {
        match read_cached(path, config) {
            Ok(Some(vk)) => {
                eprintln!(
                    "using the aggregation verifying key cached at {}",
                    path.display()
                );
                return Ok((vk, VkSource::Cache));
            }
            Ok(None) => {}
            Err(why) => eprintln!(
                "warning: ignoring the cached aggregation verifying key {}: {why}; rebuilding it",
                path.display()
            ),
        }
    }
    if !t.full {
        anyhow::bail!(
            "the kit holds no aggregation verifying key for this proof (its plan records none for this tree and \
             configuration: export the kit again after `dzk aggregate`), or verify it with --run and --params, \
             which rebuild the key from the chunks' keys"
        );
    }
    let nodes: usize = tree.configs.iter().map(Vec::len).sum();
    let pb = if nodes == 1 {
        spinner("rebuilding the aggregation verifying key from the chunks' keys")
    } else {
        bar(nodes as u64, "")
    };
    let mut done = 0;
    let mut vks = dzk_aggregate::tree_verifying_keys(
        &t.params,
        &keys(t),
        tree.group,
        &tree.configs,
        s,
        |step| {
            if nodes > 1 {
                pb.set_position(done);
                pb.set_message(step_message("rebuilding the verifying keys", step));
            }
            done += 1;
        },
    )
    .map_err(|e| reject(e.to_string()))?;
    pb.finish_and_clear();
    let vk = vks
        .pop()
        .and_then(|mut l| l.pop())
        .ok_or_else(|| reject("no aggregation node".into()))?;
    if let Some(path) = &path {
        let mut bytes = dzk_aggregate::verifying_key_bytes(&vk);
        let hash = *blake3::hash(&bytes).as_bytes();
        bytes.extend_from_slice(&hash);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(anyhow::Error::from)
            .and_then(|()| write_atomic(path, &bytes));
        if let Err(e) = written {
            eprintln!("warning: could not cache the aggregation verifying key: {e:#}");
        }
    }
    Ok((vk, VkSource::Rebuilt))
}

/// The file in the run directory that holds the aggregation verifying key with dependency hash `key`.
fn recorded_vk_path(run: &Path, key: &str) -> PathBuf {
    run.join(recorded_vk_name(key))
}

/// The file name of the aggregation verifying key with dependency hash `key` (in a run directory or a kit).
pub(super) fn recorded_vk_name(key: &str) -> String {
    format!("aggregation-{}.vk", &key[..key.len().min(16)])
}

/// Writes the aggregation verifying key `vk` (the one the proof was made against) into the run directory and
/// records its digest in the plan under its dependency hash, so an auditor reads it instead of rebuilding it.
pub(super) fn record_vk(
    run: &Path,
    t: &Trusted,
    tree: &TreeShape,
    s: &Shape,
    vk: &VerifyingKey<G1Affine>,
) -> anyhow::Result<PathBuf> {
    let key = cache_key(t, tree, s)?;
    let body = dzk_aggregate::verifying_key_bytes(vk);
    let digest = blake3::hash(&body).to_hex().to_string();
    let mut env = Envelope::new(Kind::VerifyingKey, "halo2-raw", body);
    env.header.plan_digest = Some(t.plan.digest());
    env.header.params =
        Some(json!({"aggregation_key": key, "group": tree.group, "configs": tree.configs}));
    let path = recorded_vk_path(run, &key);
    write_atomic(&path, &env.encode())?;
    // Re-read the plan: another command may have written it meanwhile.
    let mut plan = read_plan(run)?;
    if plan.digest() != t.plan.digest() {
        anyhow::bail!("the plan changed while the proof was made");
    }
    plan.aggregation_vks.insert(key, digest);
    crate::run::write_plan(run, &plan)?;
    Ok(path)
}

/// The aggregation verifying key the plan records for dependency hash `key`, from its file in the run
/// directory: `Ok(None)` when the plan records none; an error when the file is missing or not the recorded one.
fn read_recorded(
    run: &Path,
    t: &Trusted,
    key: &str,
    config: ConfigParams,
) -> Result<Option<VerifyingKey<G1Affine>>, String> {
    let Some(want) = t.plan.aggregation_vks.get(key) else {
        return Ok(None);
    };
    let path = recorded_vk_path(run, key);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let env = Envelope::decode(&bytes, Kind::VerifyingKey)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if blake3::hash(&env.body).to_hex().as_str() != want.as_str() {
        return Err(format!(
            "{} is not the aggregation verifying key the plan records",
            path.display()
        ));
    }
    dzk_aggregate::read_verifying_key(&env.body, config)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// What `verify-all --aggregate` found.
pub struct AggregateReport {
    /// The root the proof states.
    pub root: String,
    /// Public model inputs/outputs the proof states.
    pub public_inputs: Vec<String>,
    /// Public model outputs.
    pub public_outputs: Vec<String>,
    /// Whether the SRS is an insecure dev setup.
    pub insecure_setup: bool,
    /// Where the aggregation verifying key came from.
    pub vk_source: VkSource,
    /// The transcript the proof was made with (Keccak: it can be checked by the Solidity verifier).
    pub transcript: Transcript,
    /// The aggregation verifying key the proof verified against.
    pub vk: VerifyingKey<G1Affine>,
    /// The aggregation SRS.
    pub params: ParamsKZG<Bn256>,
    /// The proof's public values and bytes.
    pub instances: Vec<Fr>,
    /// The proof.
    pub proof: Vec<u8>,
}

/// Checks an aggregated proof against the run's trusted inputs, with the aggregation verifying key the plan
/// records (when `use_recorded`), else the one cached in `cache`, else rebuilt from the chunks' keys. `Err(Rejected)` for a proof that does not verify or states another root;
/// other errors for unreadable inputs.
pub fn verify_aggregate(
    file: &Path,
    run: &Path,
    srs_source: SrsSource<'_>,
    expected_root: Option<Fr>,
    cache: Option<&Path>,
    use_recorded: bool,
) -> anyhow::Result<AggregateReport> {
    let mut t = match srs_source {
        SrsSource::Dir(params_dir) => trusted(run, params_dir)?,
        SrsSource::Kit(kit) => trusted_kit(kit)?,
    };
    let reject =
        |why: String| -> anyhow::Error { Rejected(format!("{}: {why}", file.display())).into() };
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let env = Envelope::decode(&bytes, Kind::AggregateProof).map_err(|e| reject(e.to_string()))?;
    let transcript = transcript_of(&env.header.body_encoding).ok_or_else(|| {
        reject(format!(
            "unknown proof encoding {:?} (this dzk reads {} and {})",
            env.header.body_encoding,
            encoding(Transcript::Poseidon),
            encoding(Transcript::Keccak)
        ))
    })?;
    let digest = t.plan.digest();
    if env.header.plan_digest.as_deref() != Some(digest.as_str()) {
        return Err(reject(format!(
            "made for another plan, not this run's {digest}"
        )));
    }
    let meta: AggregateMeta = env
        .header
        .params_as()
        .ok_or_else(|| reject("no aggregation metadata".into()))?;
    if meta.chunks as usize != t.plan.chunks.len() {
        return Err(reject(format!(
            "aggregates {} chunks, the plan has {}",
            meta.chunks,
            t.plan.chunks.len()
        )));
    }
    let decode = |v: serde_json::Value| -> anyhow::Result<ConfigParams> {
        serde_json::from_value(v).map_err(|e| reject(format!("aggregation configuration: {e}")))
    };
    let tree = match meta.tree {
        None => TreeShape {
            group: flat_group(t.plan.chunks.len()),
            configs: vec![vec![decode(meta.config)?]],
        },
        Some(tm) => {
            // The root's configuration is recorded twice; two different ones are a damaged file.
            if tm.configs.last() != Some(&vec![meta.config]) {
                return Err(reject(
                    "the tree's root configuration differs from the proof's".into(),
                ));
            }
            let configs = tm
                .configs
                .into_iter()
                .map(|l| l.into_iter().map(decode).collect())
                .collect::<anyhow::Result<Vec<Vec<ConfigParams>>>>()?;
            TreeShape {
                group: tm.group as usize,
                configs,
            }
        }
    };
    if !t.full {
        let degree = tree
            .configs
            .last()
            .and_then(|l| l.first())
            .map(|c| c.degree)
            .ok_or_else(|| reject("no aggregation configuration".into()))?;
        if !(MIN_AGG_K..=srs::MAX_K).contains(&degree) {
            return Err(reject(format!(
                "aggregation circuit of k = {degree}, outside {MIN_AGG_K}..={}",
                srs::MAX_K
            )));
        }
        if let SrsSource::Kit(kit) = srs_source {
            t.params = kit.srs.params(degree);
        }
    }
    let instances = meta
        .instances
        .iter()
        .map(|h| from_hex(h))
        .collect::<Result<Vec<Fr>, _>>()
        .map_err(|e| reject(format!("instance {e}")))?;
    let s = shape(&t.plan);
    let want = ACCUMULATOR_LIMBS + 3 + s.public_inputs + s.public_outputs;
    if instances.len() != want {
        return Err(reject(format!(
            "{} public values, the plan needs {want}",
            instances.len()
        )));
    }
    // The published root is compared first: a proof of another root is rejected whether or not it verifies.
    let root = instances[ACCUMULATOR_LIMBS];
    if let Some(want) = expected_root {
        if root != want {
            return Err(reject(format!(
                "states root {}, not the --root given {}",
                to_hex(&root),
                to_hex(&want)
            )));
        }
    }
    let (vk, vk_source) = aggregation_vk(run, &t, &tree, &s, cache, use_recorded, reject)?;
    if !dzk_aggregate::verify_with(&t.params, &vk, &instances, &env.body, transcript) {
        return Err(reject(
            "the aggregated proof does not verify against the plan's chunk verifying keys".into(),
        ));
    }
    let rest = &instances[ACCUMULATOR_LIMBS + 3..];
    let signed = |x: &Fr| dzk_verifier::audit::signed(x);
    Ok(AggregateReport {
        root: to_hex(&root),
        public_inputs: rest[..s.public_inputs].iter().map(signed).collect(),
        // The parts' shares, part after part, joined into the model's outputs as `verify-all` does.
        public_outputs: join_parts(&t.plan, &s, &rest[s.public_inputs..])
            .iter()
            .map(signed)
            .collect(),
        insecure_setup: t.insecure,
        vk_source,
        transcript,
        vk,
        params: t.params,
        instances,
        proof: env.body,
    })
}

/// The model's outputs from the public outputs an aggregated proof states: as they are, or, when the parts of a
/// split last layer state them (`shape.output_parts`), each part's share in turn, joined along the last axis.
fn join_parts(plan: &Plan, s: &Shape, outputs: &[Fr]) -> Vec<Fr> {
    if s.output_parts.is_empty() {
        return outputs.to_vec();
    }
    let mut at = 0;
    let parts: Vec<Vec<Fr>> = s
        .output_parts
        .iter()
        .map(|&n| {
            let p = outputs.get(at..at + n).unwrap_or_default().to_vec();
            at += n;
            p
        })
        .collect();
    plan.join_outputs(&parts)
        .unwrap_or_else(|| outputs.to_vec())
}
