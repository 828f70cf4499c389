//! The files of a proving run, as plain data: the plan, a proof's metadata, a boundary file's metadata and the
//! Merkle file. Field elements are `0x`-prefixed big-endian hex strings; crates with a field type parse them.

use serde::{Deserialize, Serialize};

/// One tensor that crosses a cut.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// The tensor's index in the model.
    pub idx: i64,
    /// Its shape.
    pub shape: Vec<usize>,
}

impl TensorSpec {
    /// Its number of values.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The number of values in all of `specs` (what a cut's commitment packs).
pub fn total_values(specs: &[TensorSpec]) -> usize {
    specs.iter().map(TensorSpec::numel).sum()
}

/// The circuit geometry of one chunk (the fields of `dzk_circuit::LayoutParams`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutSpec {
    /// Advice columns shared by the chips.
    pub advice: usize,
    /// Bits per range-table limb.
    pub range_bits: usize,
    /// Limbs per long range check.
    pub range_limbs: usize,
    /// Long range checks per row.
    pub range_slots: usize,
    /// Short range checks per row.
    pub short_slots: usize,
    /// Lanes of the Poseidon chip on columns of its own (0: on the shared columns).
    #[serde(default)]
    pub hash_lanes: usize,
    /// Function lookups per row (0: the chunk looks no function up).
    #[serde(default)]
    pub fn_slots: usize,
    /// Groups the function tables are spread over (1, the default: one table).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub fn_groups: usize,
    /// Slots per row of the matrix-check chip (0: matrix products are plain dot products).
    #[serde(default)]
    pub check_width: usize,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// One chunk of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkPlan {
    /// Position in the plan, from 0.
    pub index: u32,
    /// First layer.
    pub start: usize,
    /// One past the last layer.
    pub end: usize,
    /// The circuit's size: `2^k` rows.
    pub k: u32,
    /// Rows the layout takes (the cost model).
    pub rows: usize,
    /// Circuit geometry.
    pub layout: LayoutSpec,
    /// Boundary-in tensors (what crosses the cut before the chunk), in commitment order.
    pub inputs: Vec<TensorSpec>,
    /// Boundary-out tensors, in commitment order.
    pub outputs: Vec<TensorSpec>,
    /// The chunk's model slice, relative to the run directory.
    pub slice_file: String,
    /// BLAKE3 of the slice file.
    pub slice_blake3: String,
    /// BLAKE3 of the chunk's verifying key file body, once `dzk keygen` has run (not part of the plan digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vk_blake3: Option<String>,
    /// The boundaries the chunk reads, one input commitment each, in instance order: boundary `b ≥ 1` is what
    /// chunk `b − 1` wrote (its `outputs`), boundary 0 the model's inputs. Empty (and not written) for a chunk
    /// of a chain, which reads boundary `index` alone: the chunk before it, or the model's inputs. A chunk of a
    /// graph-shaped plan (a layer split across chunks) may read several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<u32>,
}

impl ChunkPlan {
    /// The boundaries the chunk reads, in instance order (see [`Self::sources`]).
    pub fn reads(&self) -> Vec<u32> {
        if self.sources.is_empty() {
            vec![self.index]
        } else {
            self.sources.clone()
        }
    }
}

/// One layer the partitioner split across chunks (see [`Plan::split_layers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSpec {
    /// The layer, by its index among the layers left after folding (before any split).
    pub layer: usize,
    /// The parts it became, by output channels.
    pub parts: usize,
    /// The layers after it that each part carries channel by channel (pooling, per-channel scales); 0 in plans
    /// written before parts carried any.
    #[serde(default)]
    pub tail: usize,
    /// Its parts read the previous split's parts directly, each starting with its own copy of that split's
    /// concatenation (`dzk_ir::Model::split_layers_chained`): the previous split then has no concatenation and no
    /// chunk joins its parts. Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reads_parts: bool,
}

/// The model's outputs, stated by several chunks (see [`Plan::output_join`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputJoin {
    /// The chunks whose outputs, concatenated along the last axis in this order, are the model's outputs: the
    /// plan's last chunks, each writing one tensor (public instances, or its own `h_out` with committed
    /// outputs).
    pub chunks: Vec<u32>,
    /// The model's output tensor they make up.
    pub output: TensorSpec,
}

/// Whether the model's input and output are public or committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VisibilitySpec {
    /// The model inputs are public instances of the first chunk.
    pub public_input: bool,
    /// The model outputs are public instances of the last chunk.
    pub public_output: bool,
}

/// A partition plan: how a model is cut into chunks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The model file's name as given to `dzk partition`.
    pub model_file: String,
    /// BLAKE3 of the model file.
    pub model_blake3: String,
    /// Layers in the model the chunks cut: the model file's, less the folded ones.
    pub layers: usize,
    /// The model file's layers that `dzk partition` folded into constants (every operand a constant), by their
    /// index in the file; the chunks' layer ranges and the slices count the layers left. Empty for most models.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folded_layers: Vec<usize>,
    /// The layers `dzk partition` split across chunks (each into `parts` layers of the same kind over a share of
    /// its output channels, and a concatenation), in order; `layers` and the chunks' layer ranges count the
    /// layers after the split (`dzk_ir::Model::split_layers_file`). Empty for a chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_layers: Vec<SplitSpec>,
    /// Model input/output visibility.
    pub visibility: VisibilitySpec,
    /// The chunks, in order; they cover `0..layers` exactly once (`0..layers − 1` with [`Self::output_join`]).
    pub chunks: Vec<ChunkPlan>,
    /// When the model's last layer is the concatenation of a split layer's parts (a classifier's or language
    /// model's head too large for one chunk): the parts are the plan's last chunks and state the model's
    /// outputs between them, and no chunk proves the concatenation, which only moves values. `None`: the last
    /// chunk states the outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_join: Option<OutputJoin>,
    /// The identity of the SRS the keys were made with (`dzk_verifier::srs::srs_id`), once `dzk keygen` has
    /// run (not part of the plan digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srs_id: Option<String>,
    /// The aggregation verifying keys made for this run (by `dzk aggregate`), by what each depends on (a hash
    /// of dzk's version, the plan and its chunk keys, the tree's shape and configurations, the SRS): the BLAKE3
    /// of the key file's body in the run directory. An auditor reads such a key instead of rebuilding it. Not
    /// part of the plan digest.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub aggregation_vks: std::collections::BTreeMap<String, String>,
}

impl Plan {
    /// The plan's digest: BLAKE3 over its canonical JSON with the verifying-key digests, the SRS id and the
    /// aggregation keys left out (keygen and aggregate add them, after the digest is fixed).
    pub fn digest(&self) -> String {
        let mut p = self.clone();
        p.srs_id = None;
        p.aggregation_vks.clear();
        for c in &mut p.chunks {
            c.vk_blake3 = None;
        }
        let bytes = serde_json::to_vec(&p).unwrap_or_default();
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// The layers the chunks cover: all of them, or all but the last when several chunks state the outputs
    /// ([`Self::output_join`]).
    pub fn covered_layers(&self) -> usize {
        self.layers - usize::from(self.output_join.is_some())
    }

    /// The chunks that state the model's outputs, in the order they make them up: the parts of
    /// [`Self::output_join`], or the last chunk.
    pub fn output_chunks(&self) -> Vec<u32> {
        match &self.output_join {
            Some(j) => j.chunks.clone(),
            None => vec![self.chunks.len().saturating_sub(1) as u32],
        }
    }

    /// Whether chunk `i` states (some of) the model's outputs.
    pub fn states_outputs(&self, i: u32) -> bool {
        self.output_chunks().contains(&i)
    }

    /// The model's output values, flat in the output tensor's order, from the values each chunk of
    /// [`Self::output_chunks`] states (in that order, each flat in its tensor's order): the one chunk's values,
    /// or the parts' concatenated along the last axis. `None` when a part's count does not match the plan.
    pub fn join_outputs<T: Clone>(&self, parts: &[Vec<T>]) -> Option<Vec<T>> {
        let Some(j) = &self.output_join else {
            return (parts.len() == 1).then(|| parts[0].clone());
        };
        let widths: Vec<usize> = j
            .chunks
            .iter()
            .map(|&c| {
                let o = &self.chunks.get(c as usize)?.outputs;
                (o.len() == 1).then(|| o[0].shape.last().copied().unwrap_or(1))
            })
            .collect::<Option<_>>()?;
        let width: usize = widths.iter().sum();
        let rows = j.output.numel().checked_div(width)?;
        if parts.len() != widths.len()
            || parts.iter().zip(&widths).any(|(p, w)| p.len() != rows * w)
        {
            return None;
        }
        let mut out = Vec::with_capacity(rows * width);
        for r in 0..rows {
            for (p, &w) in parts.iter().zip(&widths) {
                out.extend_from_slice(&p[r * w..(r + 1) * w]);
            }
        }
        Some(out)
    }

    /// Whether some chunk reads other boundaries than its predecessor's (a graph-shaped plan).
    pub fn is_graph(&self) -> bool {
        self.chunks.iter().any(|c| !c.sources.is_empty())
    }

    /// The tensors of boundary `b`: the model's inputs (chunk 0's inputs of a chain, or the union of what the
    /// readers of boundary 0 read) for `b = 0`, else chunk `b − 1`'s outputs.
    pub fn boundary_tensors(&self, b: u32) -> Option<&[TensorSpec]> {
        if b == 0 {
            self.chunks.first().map(|c| c.inputs.as_slice())
        } else {
            self.chunks
                .get(b as usize - 1)
                .map(|c| c.outputs.as_slice())
        }
    }

    /// The chunks that read boundary `b`, in order.
    pub fn readers(&self, b: u32) -> Vec<u32> {
        self.chunks
            .iter()
            .filter(|c| c.reads().contains(&b))
            .map(|c| c.index)
            .collect()
    }

    /// The input tensors chunk `c` reads from each of its boundaries, in instance order (`c.inputs` is their
    /// concatenation).
    pub fn input_groups(&self, c: &ChunkPlan) -> Vec<(u32, Vec<TensorSpec>)> {
        c.reads()
            .into_iter()
            .map(|b| {
                let t = if c.sources.is_empty() {
                    c.inputs.clone()
                } else {
                    self.boundary_tensors(b).unwrap_or_default().to_vec()
                };
                (b, t)
            })
            .collect()
    }

    /// Checks the plan's internal consistency: chunks indexed 0.., contiguous, covering every layer once, each
    /// cut's tensors equal on both sides; in a graph-shaped plan, every chunk reads earlier boundaries only, its
    /// inputs are the concatenation of theirs, and every chunk's outputs are read by a later chunk (or are the
    /// model's outputs).
    pub fn check(&self) -> Result<(), String> {
        if self.chunks.is_empty() {
            return Err("the plan has no chunks".into());
        }
        let mut at = 0;
        for (i, c) in self.chunks.iter().enumerate() {
            if c.index as usize != i {
                return Err(format!("chunk {i} is numbered {}", c.index));
            }
            if c.start != at || c.end <= c.start {
                return Err(format!(
                    "chunk {i} covers layers {}..{}, expected to start at {at}",
                    c.start, c.end
                ));
            }
            if c.sources.is_empty() {
                if i > 0 && self.chunks[i - 1].outputs != c.inputs {
                    return Err(format!(
                        "chunk {} outputs and chunk {i} inputs differ",
                        i - 1
                    ));
                }
            } else {
                let mut seen = std::collections::BTreeSet::new();
                let mut joined = Vec::new();
                for &b in &c.sources {
                    if b as usize > i || !seen.insert(b) {
                        return Err(format!(
                            "chunk {i} reads boundary {b}, which is not an earlier chunk's (or is listed twice)"
                        ));
                    }
                    if b == 0 && i > 0 {
                        // Boundary 0 is the model's inputs; a later chunk reads them as chunk 0 does.
                        if self.chunks[0].reads() != [0] {
                            return Err(format!(
                                "chunk {i} reads the model's inputs, which chunk 0 does not read alone"
                            ));
                        }
                    }
                    if b == 0 && i == 0 {
                        joined.extend(c.inputs.iter().cloned());
                        continue;
                    }
                    joined.extend(self.boundary_tensors(b).unwrap_or_default().iter().cloned());
                }
                if joined != c.inputs {
                    return Err(format!(
                        "chunk {i}'s inputs are not what its boundaries {:?} hold",
                        c.sources
                    ));
                }
            }
            at = c.end;
        }
        if at != self.covered_layers() {
            return Err(format!(
                "the chunks end at layer {at} but the model has {}{}",
                self.layers,
                if self.output_join.is_some() {
                    " (the last, the outputs' concatenation, left to the verifier)"
                } else {
                    ""
                }
            ));
        }
        if let Some(j) = &self.output_join {
            self.check_output_join(j)?;
        }
        if self.is_graph() {
            for c in &self.chunks {
                if !self.states_outputs(c.index) && self.readers(c.index + 1).is_empty() {
                    return Err(format!("no chunk reads chunk {}'s outputs", c.index));
                }
            }
        }
        Ok(())
    }
}

impl Plan {
    /// [`Plan::check`] of an output join: at least two chunks, the plan's last ones in order, each writing one
    /// tensor that no chunk reads, of the output's shape but for its last axis, whose widths add up to the
    /// output's.
    fn check_output_join(&self, j: &OutputJoin) -> Result<(), String> {
        let n = self.chunks.len() as u32;
        let first = n.saturating_sub(j.chunks.len() as u32);
        if j.chunks.len() < 2 || j.chunks != (first..n).collect::<Vec<_>>() {
            return Err(format!(
                "the chunks stating the outputs, {:?}, are not the plan's last two or more",
                j.chunks
            ));
        }
        let (lead, width) = j
            .output
            .shape
            .split_at(j.output.shape.len().saturating_sub(1));
        let mut sum = 0;
        for &c in &j.chunks {
            let outs = &self.chunks[c as usize].outputs;
            let ok = outs.len() == 1
                && outs[0].shape.len() == j.output.shape.len()
                && outs[0].shape.starts_with(lead);
            if !ok || !self.readers(c + 1).is_empty() {
                return Err(format!(
                    "chunk {c} states part of the outputs but does not write one tensor of their shape (but \
                     for the last axis) that no chunk reads"
                ));
            }
            sum += outs[0].shape.last().copied().unwrap_or(0);
        }
        if width != [sum] {
            return Err(format!(
                "the parts stating the outputs are {sum} wide along the last axis, the output {:?}",
                j.output.shape
            ));
        }
        Ok(())
    }
}

/// What a chunk proof file's header carries (in `Header::params`); the body is the proof's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofMeta {
    /// The circuit's `k`.
    pub k: u32,
    /// BLAKE3 of the verifying key the proof is for.
    pub vk_blake3: String,
    /// The public instances, in order: `h_in` (one per boundary read), `h_out`, then public model
    /// inputs/outputs.
    pub instances: Vec<String>,
    /// The boundaries the chunk read, as the plan's `sources` lists them (empty for a chunk of a chain, which
    /// reads its predecessor's). Informative: verifiers take the plan's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<u32>,
    /// Fingerprints of the input and output salts (BLAKE3 of a domain tag and the salt, 16 bytes hex; they say
    /// nothing about the salt or the activations). They let `verify-all` tell a chunk proven again with a new
    /// salt from one proven on other activations when two commitments disagree. Absent in older proofs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt_tags: Option<SaltTags>,
}

/// See [`ProofMeta::salt_tags`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaltTags {
    /// The salt of `h_in`.
    pub input: String,
    /// The salt of `h_out`.
    pub output: String,
    /// For a chunk that reads several boundaries: the salt of each input commitment, in instance order (`input`
    /// is the first). Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
}

/// What an aggregated proof's header carries (in `Header::params`); the body is the proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateMeta {
    /// Chunk proofs aggregated (the plan's chunks, in order).
    pub chunks: u32,
    /// The aggregation circuit's configuration (`k`, columns, lookup bits), from which the verifier rebuilds its
    /// verifying key together with the chunks' verifying keys.
    pub config: serde_json::Value,
    /// Public values, hex: 12 accumulator limbs, the Merkle root, `h_in` of chunk 0, `h_out` of the last chunk,
    /// public model inputs, public model outputs.
    pub instances: Vec<String>,
    /// For a tree of aggregations (`dzk aggregate --group G`), its shape and every node's configuration; the
    /// proof is the root's, whose configuration `config` repeats. Absent: one aggregation over all chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreeMeta>,
}

/// The tree of an aggregated proof made through one ([`AggregateMeta::tree`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreeMeta {
    /// Proofs per node: the tree is `dzk_aggregate::tree(chunks, group)`.
    pub group: u32,
    /// Every node's aggregation circuit configuration, by level (bottom first) and node; the verifier rebuilds
    /// every node's verifying key from them and the chunks' keys, bottom up.
    pub configs: Vec<Vec<serde_json::Value>>,
}

/// What the proof of a node below the root of a tree of aggregations carries in its header (`Header::params`);
/// the body is the proof (SHPLONK, Poseidon transcript), which the node above verifies in-circuit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeMeta {
    /// Chunk proofs in the whole run.
    pub chunks: u32,
    /// Proofs per node of the tree (`dzk_aggregate::tree(chunks, group)`).
    pub group: u32,
    /// The node's level (0: over chunk proofs) and its index in the level.
    pub level: u32,
    /// The node's index in its level.
    pub index: u32,
    /// The node's aggregation circuit configuration.
    pub config: serde_json::Value,
    /// Public values, hex ([`AggregateMeta::instances`] of the node's subtree).
    pub instances: Vec<String>,
    /// The node's verifying key (`dzk_aggregate::verifying_key_bytes`), hex: the node above reads it to verify
    /// this proof in-circuit. Nothing trusts it: the auditor rebuilds every key from the chunks' keys and the
    /// configurations, so a node proven against another key gives a root proof that does not verify.
    pub vk: String,
    /// The configurations of the node's subtree, by level (bottom first), its own last.
    pub configs: Vec<Vec<serde_json::Value>>,
}

/// What a boundary file's header carries (in `Header::params`); the body is a zkml tensor file (msgpack).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundaryMeta {
    /// The boundary: `cut − 1` produced it (the model's inputs for 0). In a chain, the input of chunk `cut`.
    pub cut: u32,
    /// The salt of the commitment to these activations.
    pub salt: String,
}

/// A Merkle file's body (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleFile {
    /// The root.
    pub root: String,
    /// Per chunk, in order: `{index, h_in, h_out}`.
    pub leaves: Vec<serde_json::Value>,
    /// Per chunk, its inclusion path `{index, leaves, siblings}`.
    pub paths: Vec<serde_json::Value>,
}

/// An auditor's kit's manifest (`kit.dzk`, JSON body): everything verifying a run needs besides its proofs and
/// the kit's other files, which it lists with their digests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitManifest {
    /// The digest of the run's plan (`plan.dzk` in the kit).
    pub plan_digest: String,
    /// The verifier's part of the SRS: the first two G1 points, `g2` and `s·g2`, compressed, hex.
    pub srs: KitSrs,
    /// The SRS's identity (`dzk_verifier::srs::srs_id`), as the plan records it.
    pub srs_id: String,
    /// `Some(seed)` when the SRS is a deterministic dev setup (**insecure**).
    pub insecure_dev_seed: Option<u64>,
    /// The published Merkle root, when the model owner put it in the kit: verification then pins it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// The kit's other files (relative names) and the BLAKE3 of each file's bytes.
    pub files: std::collections::BTreeMap<String, String>,
}

/// See [`KitManifest::srs`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitSrs {
    /// `g[0]`, the G1 generator of the setup.
    pub g0: String,
    /// `g[1] = τ·g[0]`.
    pub g1: String,
    /// The G2 generator.
    pub g2: String,
    /// `τ·g2`.
    pub s_g2: String,
}
