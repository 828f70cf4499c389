//! `dzk inspect` on dzk's own files: what a plan, proof, key, boundary, Merkle or aggregate file holds. The
//! envelope is checked in full (magic, version, header, length, digest) before anything is shown.

use std::path::Path;

use anyhow::Context;
use dzk_format::run::{
    total_values, AggregateMeta, BoundaryMeta, KitManifest, MerkleFile, NodeMeta, Plan, ProofMeta,
};
use dzk_format::{Envelope, Kind};
use dzk_ir::TensorFile;
use serde_json::{json, Value};

/// Describes the dzk artifact `bytes` (read from `path`, of kind `kind`): a JSON value, and the same as lines.
pub fn describe(path: &Path, bytes: &[u8], kind: Kind) -> anyhow::Result<(Value, Vec<String>)> {
    let name = path.display().to_string();
    let env = Envelope::decode(bytes, kind).with_context(|| name.clone())?;
    let h = &env.header;
    let mut lines = vec![format!(
        "{kind} {name} (dzk {}, body {} bytes, {})",
        h.dzk_version, h.body_len, h.body_encoding
    )];
    if let Some(d) = &h.plan_digest {
        lines.push(format!("  plan digest {d}"));
    }
    if let Some(i) = h.chunk_index {
        lines.push(format!("  chunk {i}"));
    }
    let mut out = json!({
        "file": name, "kind": kind.to_string(), "dzk_version": h.dzk_version,
        "body_encoding": h.body_encoding, "body_bytes": h.body_len,
        "plan_digest": h.plan_digest, "chunk": h.chunk_index,
    });
    let bad = |what: &str| anyhow::anyhow!("{name}: the {kind}'s {what} is unreadable");
    match kind {
        Kind::Plan => {
            let plan: Plan = serde_json::from_slice(&env.body).map_err(|_| bad("plan"))?;
            let keyed = plan.chunks.iter().filter(|c| c.vk_blake3.is_some()).count();
            lines.push(format!(
                "  model {} ({} layers), input {}, output {}",
                plan.model_file,
                plan.layers,
                if plan.visibility.public_input {
                    "public"
                } else {
                    "committed"
                },
                if plan.visibility.public_output {
                    "public"
                } else {
                    "committed"
                },
            ));
            lines.push(format!(
                "  {} chunks, {keyed} keyed{}",
                plan.chunks.len(),
                plan.srs_id
                    .as_deref()
                    .map(|s| format!(", SRS id {s}"))
                    .unwrap_or_default()
            ));
            if !plan.split_layers.is_empty() {
                lines.push(format!(
                    "  split across chunks: {}",
                    plan.split_layers
                        .iter()
                        .map(|s| format!("layer {} in {} parts", s.layer, s.parts))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if let Some(j) = &plan.output_join {
                lines.push(format!(
                    "  the model's {} outputs stated by chunks {:?} (a split last layer's parts, joined along the \
                     last axis by the verifier)",
                    j.output.numel(),
                    j.chunks
                ));
            }
            for c in &plan.chunks {
                lines.push(format!(
                    "  chunk {}: layers {}..{}, k = {}, {} rows, {} values in{}, {} out{}{}",
                    c.index,
                    c.start,
                    c.end,
                    c.k,
                    c.rows,
                    total_values(&c.inputs),
                    crate::run::reads_text(c),
                    total_values(&c.outputs),
                    if plan.output_join.is_some() && plan.states_outputs(c.index) {
                        " (its share of the outputs)"
                    } else {
                        ""
                    },
                    if c.vk_blake3.is_some() { ", keyed" } else { "" }
                ));
            }
            out["plan"] = json!({
                "model_file": plan.model_file, "layers": plan.layers, "visibility": plan.visibility,
                "chunks": plan.chunks.iter().map(|c| json!({
                    "index": c.index, "layers": [c.start, c.end], "k": c.k, "rows": c.rows,
                    "vk_blake3": c.vk_blake3, "reads": c.reads(),
                })).collect::<Vec<_>>(),
                "split_layers": plan.split_layers, "output_join": plan.output_join,
                "srs_id": plan.srs_id, "digest": plan.digest(),
            });
        }
        Kind::ChunkProof => {
            let meta: ProofMeta = h.params_as().ok_or_else(|| bad("metadata"))?;
            lines.push(format!(
                "  k = {}, verifying key {}",
                meta.k, meta.vk_blake3
            ));
            // One input commitment per boundary read (`reads`; one for a chunk of a chain), then h_out.
            let g = meta.reads.len().max(1);
            if let (Some(i), Some(o)) = (meta.instances.first(), meta.instances.get(g)) {
                lines.push(format!("  h_in  {i}"));
                for more in meta.instances.get(1..g).unwrap_or_default() {
                    lines.push(format!("        {more}"));
                }
                lines.push(format!("  h_out {o}"));
            }
            lines.push(format!(
                "  {} public values in all; salt fingerprints {}",
                meta.instances.len(),
                if meta.salt_tags.is_some() {
                    "recorded"
                } else {
                    "absent (an older proof)"
                }
            ));
            out["proof"] = serde_json::to_value(&meta).context("encoding")?;
        }
        Kind::Merkle => {
            let m: MerkleFile = serde_json::from_slice(&env.body).map_err(|_| bad("body"))?;
            lines.push(format!("  root {}", m.root));
            lines.push(format!(
                "  {} leaves, {} inclusion paths",
                m.leaves.len(),
                m.paths.len()
            ));
            out["merkle"] = json!({"root": m.root, "leaves": m.leaves.len()});
        }
        Kind::VerifyingKey | Kind::ProvingKey => {
            let digest = blake3::hash(&env.body).to_hex().to_string();
            if let Some(p) = &h.params {
                lines.push(format!("  circuit {p}"));
            }
            lines.push(format!("  key body blake3 {digest}"));
            out["key"] = json!({"circuit": h.params, "body_blake3": digest});
        }
        Kind::Boundary => {
            let meta: BoundaryMeta = h.params_as().ok_or_else(|| bad("metadata"))?;
            let tensors = TensorFile::from_msgpack(&env.body, &name)?;
            lines.push(format!(
                "  the input of chunk {} (private: activations and the salt of their commitment)",
                meta.cut
            ));
            let listed: Vec<Value> = tensors
                .tensors()
                .iter()
                .map(|(idx, t)| json!({"idx": idx, "shape": t.shape()}))
                .collect();
            for (idx, t) in tensors.tensors() {
                lines.push(format!("  tensor {idx} {:?}", t.shape()));
            }
            out["boundary"] = json!({"cut": meta.cut, "tensors": listed});
        }
        Kind::AggregateProof => {
            let meta: AggregateMeta = h.params_as().ok_or_else(|| bad("metadata"))?;
            let transcript = match h.body_encoding.as_str() {
                "halo2-shplonk-keccak" => "Keccak (for the EVM verifier)",
                "halo2-shplonk-poseidon" => "Poseidon",
                _ => "unknown",
            };
            lines.push(format!(
                "  {} chunk proofs aggregated, transcript {transcript}",
                meta.chunks
            ));
            if let Some(k) = meta.config.get("degree") {
                lines.push(format!("  aggregation circuit k = {k}"));
            }
            if let Some(t) = &meta.tree {
                lines.push(format!(
                    "  a tree of {} levels, {} proofs per node",
                    t.configs.len(),
                    t.group
                ));
            }
            // Public values: 12 accumulator limbs, then the root, h_in(0), h_out(last), the model's values.
            if let Some(root) = meta.instances.get(12) {
                lines.push(format!("  root {root}"));
            }
            lines.push(format!("  {} public values", meta.instances.len()));
            out["aggregate"] = serde_json::to_value(&meta).context("encoding")?;
        }
        Kind::Kit => {
            let m: KitManifest = serde_json::from_slice(&env.body).map_err(|_| bad("manifest"))?;
            lines.push(format!(
                "  the verifier of plan {}: {} files ({})",
                m.plan_digest,
                m.files.len(),
                m.files.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            lines.push(format!(
                "  SRS id {}{}",
                m.srs_id,
                if m.insecure_dev_seed.is_some() {
                    " (INSECURE dev setup)"
                } else {
                    ""
                }
            ));
            lines.push(format!(
                "  root {}",
                m.root.as_deref().unwrap_or("not included")
            ));
            out["kit"] = serde_json::to_value(&m).context("encoding")?;
        }
        Kind::AggregateNode => {
            let meta: NodeMeta = h.params_as().ok_or_else(|| bad("metadata"))?;
            lines.push(format!(
                "  node {} of level {} of a tree over {} chunk proofs, {} proofs per node",
                meta.index, meta.level, meta.chunks, meta.group
            ));
            if let Some(k) = meta.config.get("degree") {
                lines.push(format!("  aggregation circuit k = {k}"));
            }
            lines.push(format!("  {} public values", meta.instances.len()));
            let mut m = serde_json::to_value(&meta).context("encoding")?;
            m["vk"] = json!(format!("{} hex digits", meta.vk.len()));
            out["node"] = m;
        }
        other => lines.push(format!("  (no description of a {other} yet)")),
    }
    Ok((out, lines))
}
