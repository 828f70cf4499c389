//! What the aggregation tests share: real chunk proofs of the digits model, with chunk SRS downsized from the
//! aggregation SRS.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use dzk_aggregate::Child;
use dzk_circuit::{ChunkCircuit, Salts, Visibility};
use dzk_ir::{Model, TensorFile};
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
