//! What the aggregation tests share: real chunk proofs of the digits model, with chunk SRS downsized from the
//! aggregation SRS.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use dzk_aggregate::{Child, Shape};
use dzk_circuit::{ChunkCircuit, ChunkIo, InputGroup, Salts, Visibility};
use dzk_ir::{Model, SplitAt, TensorFile};
use dzk_merkle::ChunkLeaf;
use dzk_prover::{keygen as chunk_keygen, prove_chunk};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn digits() -> Arc<Model> {
    Arc::new(Model::load(&repo().join("testdata/models/digits_cnn.msgpack")).expect("model"))
}

pub fn input(name: &str) -> TensorFile {
    TensorFile::load(&repo().join("testdata/inputs").join(name)).expect("input")
}

/// A proven chunk: its key, SRS, instances and proof.
pub struct Chunk {
    pub vk: VerifyingKey<G1Affine>,
    pub params: ParamsKZG<Bn256>,
    pub instances: Vec<Fr>,
    pub proof: Vec<u8>,
}

/// The model outputs of layers `[0, end)` on `input`: the boundary a chunk starting at `end` reads.
pub fn boundary(model: &Model, end: usize, input: &TensorFile) -> TensorFile {
    if end == 0 {
        return input.clone();
    }
    model
        .forward_range(0, end, input)
        .expect("forward")
        .outputs()
        .clone()
}

/// Proves layers `[a, b)` from `input` (the boundary at `a`), with the model outputs public and the salts of cut
/// `a` and cut `b` (`salt(i) = 11·(i + 1)`, so consecutive chunks link).
pub fn prove(
    params: &ParamsKZG<Bn256>,
    model: &Arc<Model>,
    (a, b): (usize, usize),
    input: &TensorFile,
) -> Chunk {
    let salt = |cut: usize| Fr::from(11 * (cut as u64 + 1));
    let c = ChunkCircuit::fit(model.clone(), a, b)
        .expect("fit")
        .with_visibility(Visibility {
            public_input: false,
            public_output: true,
        })
        .with_inputs(
            input,
            Salts {
                input: salt(a),
                output: salt(b),
            },
        )
        .expect("witness");
    prove_circuit(params, c)
}

/// Keys and proves a chunk circuit whose witness is set, on the prefix of `params` at its `k`.
pub fn prove_circuit(params: &ParamsKZG<Bn256>, c: ChunkCircuit) -> Chunk {
    let mut p = params.clone();
    p.downsize(c.min_k());
    let (vk, pk) = chunk_keygen(&p, &c).expect("keygen");
    let instances = c.instances().to_vec();
    let proof = prove_chunk(dzk_backend::Backend::Cpu, &p, &pk, c).expect("prove");
    Chunk {
        vk,
        params: p,
        instances,
        proof,
    }
}

/// The model cut at `cuts` (0 < c₁ < … < layers), every chunk proven from the previous one's outputs on `input`.
pub fn prove_run(
    params: &ParamsKZG<Bn256>,
    model: &Arc<Model>,
    cuts: &[usize],
    input: &TensorFile,
) -> Vec<Chunk> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(model.layers().len());
    bounds
        .windows(2)
        .map(|w| prove(params, model, (w[0], w[1]), &boundary(model, w[0], input)))
        .collect()
}

/// The chunks as the aggregation's children, in order.
pub fn children<'a>(cs: impl IntoIterator<Item = &'a Chunk>) -> Vec<Child<'a>> {
    cs.into_iter()
        .map(|c| Child {
            vk: &c.vk,
            params: &c.params,
            instances: c.instances.clone(),
            proof: c.proof.clone(),
        })
        .collect()
}

/// The chunks' Merkle leaves, in order.
pub fn leaves(cs: &[Chunk]) -> Vec<ChunkLeaf> {
    cs.iter()
        .enumerate()
        .map(|(i, c)| ChunkLeaf {
            index: i as u64,
            h_in: c.instances[0],
            h_out: c.instances[1],
            more_inputs: Vec::new(),
        })
        .collect()
}

/// Proves layers `a..b` of `m` reading and writing `io`, from `given` under the input salts `ins` and the
/// output salt `out`.
pub fn prove_io(
    params: &ParamsKZG<Bn256>,
    m: &Arc<Model>,
    (a, b): (usize, usize),
    io: &ChunkIo,
    given: &TensorFile,
    ins: &[Fr],
    out: Fr,
) -> Chunk {
    let vis = Visibility {
        public_input: false,
        public_output: true,
    };
    let c = ChunkCircuit::fit_within_io(m.clone(), a, b, io, vis, None)
        .expect("fit")
        .with_io(io.clone())
        .expect("io")
        .with_visibility(vis)
        .with_group_inputs(given, ins, out)
        .expect("witness");
    prove_circuit(params, c)
}

/// A graph-shaped run: the digits CNN's convolution and the pooling after it split into two parts (each reads the
/// model's input and writes its pooled channels), and the chunk after them (the join) reading both parts.
pub struct Graph {
    pub model: Arc<Model>,
    /// In plan order: the parts, proven from `digits_3` under the input salt [`Graph::SALT_IN`] and the output
    /// salts [`Graph::salt`], then the join, proven from the parts' very outputs under their salts.
    pub chunks: Vec<Chunk>,
    /// The aggregation's shape: parts 0 and 1 read boundary 0 (the model's input), the join boundaries 1 and 2.
    pub shape: Shape,
    /// Each part's layers and the tensor it writes.
    part_layers: Vec<((usize, usize), i64)>,
    input: TensorFile,
    first_join_layer: usize,
    join_io: ChunkIo,
    shares: TensorFile,
}

impl Graph {
    /// The salt of the model's input in the honest run.
    pub const SALT_IN: u64 = 7;

    /// The salt of part `p`'s output in the honest run.
    pub fn salt(p: usize) -> Fr {
        Fr::from(11 + p as u64)
    }

    /// The run, every chunk proven on the prefix of `params` at its `k`.
    pub fn prove(params: &ParamsKZG<Bn256>) -> Self {
        let bytes =
            std::fs::read(repo().join("testdata/models/digits_cnn.msgpack")).expect("model");
        let at = [SplitAt {
            layer: 0,
            parts: 2,
            tail: 1,
        }];
        let split = Model::split_layers_with_tails(&bytes, "digits", &at).expect("split");
        let model = Arc::new(Model::from_msgpack(&split.bytes, "digits").expect("load"));
        let sec = split.sections[0];
        let n = model.layers().len();
        let input = input("digits_3.msgpack");
        let full = model.forward(&input).expect("forward");
        let part_layers: Vec<((usize, usize), i64)> = (0..2)
            .map(|p| (sec.part(p), model.layers()[sec.part(p).1 - 1].outputs[0]))
            .collect();
        // The join reads both shares (nothing of the input is needed after them).
        let join_io = ChunkIo {
            groups: part_layers
                .iter()
                .map(|&(_, share)| InputGroup {
                    model_inputs: false,
                    tensors: vec![share],
                })
                .collect(),
            outputs: model.live_at(n),
            public_outputs: false,
        };
        let shares = TensorFile::new(
            part_layers
                .iter()
                .map(|&(_, share)| (share, full.tensor(share).expect("share").clone()))
                .collect(),
        )
        .expect("shares");
        let mut g = Self {
            model,
            chunks: Vec::new(),
            shape: Shape::default(),
            part_layers,
            input,
            first_join_layer: sec.join(),
            join_io,
            shares,
        };
        for p in 0..2 {
            let part = g.part_under(params, p, Fr::from(Self::SALT_IN));
            g.chunks.push(part);
        }
        let join = g.join_under(params, &[Self::salt(0), Self::salt(1)]);
        assert_eq!(join.instances[0], g.chunks[0].instances[1]);
        assert_eq!(join.instances[1], g.chunks[1].instances[1]);
        g.shape = Shape {
            public_inputs: 0,
            public_outputs: join.instances.len() - 3,
            reads: vec![vec![0], vec![0], vec![1, 2]],
            output_parts: Vec::new(),
        };
        g.chunks.push(join);
        g
    }

    /// Part `p` proven from the model's input under the input salt `salt_in`.
    pub fn part_under(&self, params: &ParamsKZG<Bn256>, p: usize, salt_in: Fr) -> Chunk {
        let (layers, share) = self.part_layers[p];
        let io = ChunkIo {
            groups: vec![InputGroup {
                model_inputs: true,
                tensors: self.model.live_at(0),
            }],
            outputs: vec![share],
            public_outputs: false,
        };
        prove_io(
            params,
            &self.model,
            layers,
            &io,
            &self.input,
            &[salt_in],
            Self::salt(p),
        )
    }

    /// The join proven from the parts' very values under the input salts `ins`.
    pub fn join_under(&self, params: &ParamsKZG<Bn256>, ins: &[Fr]) -> Chunk {
        prove_io(
            params,
            &self.model,
            (self.first_join_layer, self.model.layers().len()),
            &self.join_io,
            &self.shares,
            ins,
            Fr::from(99),
        )
    }

    /// Part `p`.
    pub fn part(&self, p: usize) -> &Chunk {
        &self.chunks[p]
    }

    /// The join.
    pub fn join(&self) -> &Chunk {
        &self.chunks[2]
    }

    /// The Merkle leaves of the run: each binds every input commitment of its chunk.
    pub fn leaves(&self) -> Vec<ChunkLeaf> {
        let mut leaves = leaves(&self.chunks[..2]);
        leaves.push(ChunkLeaf {
            index: 2,
            h_in: self.join().instances[0],
            h_out: self.join().instances[2],
            more_inputs: vec![self.join().instances[1]],
        });
        leaves
    }
}
