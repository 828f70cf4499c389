//! Aggregation of a graph-shaped run: the digits CNN's convolution and the pooling after it split into two parts
//! (each reads the model's input and writes its pooled channels), and the chunk after them reading both parts.
//! The aggregated proof verifies and states the Merkle root over leaves that bind every input commitment; an
//! edge whose commitments differ (the chunk after the parts proven from the same values under another salt, so
//! every chunk proof is valid on its own) is refused before proving, and an aggregator that skips that check
//! gets no proof that verifies.

mod common;

use std::sync::Arc;

use common::{children, input, prove_circuit, repo, Chunk};
use dzk_aggregate::{keygen, prove_aggregate, prove_unchecked, verify, Node, Shape};
use dzk_circuit::{ChunkCircuit, ChunkIo, InputGroup, Visibility};
use dzk_ir::{Model, SplitAt, TensorFile};
use dzk_merkle::{ChunkLeaf, MerkleTree};
use dzk_prover::dev_setup;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;

/// The aggregation circuit's k (the chunk SRS are prefixes of this one).
const AGG_K: u32 = 19;

/// Proves layers `a..b` of `m` reading and writing `io`, from `given` under the input salts `ins` and the
/// output salt `out`.
fn prove_io(
    params: &ParamsKZG<Bn256>,
    m: &Arc<Model>,
    (a, b): (usize, usize),
    io: &ChunkIo,
    given: &TensorFile,
    ins: &[Fr],
    out: Fr,
) -> Chunk {
    let c = ChunkCircuit::fit_within_io(m.clone(), a, b, io, None)
        .expect("fit")
        .with_io(io.clone())
        .expect("io")
        .with_visibility(Visibility {
            public_input: false,
            public_output: true,
        })
        .with_group_inputs(given, ins, out)
        .expect("witness");
    prove_circuit(params, c)
}

#[test]
#[ignore = "an aggregation keygen and two aggregation proofs at k = 19 (21 minutes on a 2-core machine in release): run by `cargo xtask slow`"]
fn a_graph_shaped_run_aggregates_and_an_edge_whose_commitments_differ_does_not() {
    let bytes = std::fs::read(repo().join("testdata/models/digits_cnn.msgpack")).expect("model");
    let at = [SplitAt {
        layer: 0,
        parts: 2,
        tail: 1,
    }];
    let split = Model::split_layers_with_tails(&bytes, "digits", &at).expect("split");
    let m = Arc::new(Model::from_msgpack(&split.bytes, "digits").expect("load"));
    let sec = split.sections[0];
    let n = m.layers().len();
    let x = input("digits_3.msgpack");
    let full = m.forward(&x).expect("forward");
    let params = dev_setup(AGG_K, 7);

    // The parts: each reads the model's input (salt 7) and writes its pooled share (salt 11 + p).
    let salt_in = Fr::from(7);
    let salt = |p: usize| Fr::from(11 + p as u64);
    let share = |p: usize| m.layers()[sec.part(p).1 - 1].outputs[0];
    let parts: Vec<Chunk> = (0..2)
        .map(|p| {
            let io = ChunkIo {
                groups: vec![InputGroup {
                    model_inputs: true,
                    tensors: m.live_at(0),
                }],
                outputs: vec![share(p)],
            };
            prove_io(&params, &m, sec.part(p), &io, &x, &[salt_in], salt(p))
        })
        .collect();
    // The chunk after the parts reads both shares (nothing of the input is needed after them).
    let join_io = ChunkIo {
        groups: (0..2)
            .map(|p| InputGroup {
                model_inputs: false,
                tensors: vec![share(p)],
            })
            .collect(),
        outputs: m.live_at(n),
    };
    let shares = TensorFile::new(
        (0..2)
            .map(|p| (share(p), full.tensor(share(p)).expect("share").clone()))
            .collect(),
    )
    .expect("shares");
    let join = |ins: &[Fr]| {
        prove_io(
            &params,
            &m,
            (sec.join(), n),
            &join_io,
            &shares,
            ins,
            Fr::from(99),
        )
    };
    let honest = join(&[salt(0), salt(1)]);
    assert_eq!(honest.instances[0], parts[0].instances[1]);
    assert_eq!(honest.instances[1], parts[1].instances[1]);

    let shape = Shape {
        public_inputs: 0,
        public_outputs: honest.instances.len() - 3,
        reads: vec![vec![0], vec![0], vec![1, 2]],
    };
    let keys_in: Vec<_> = parts
        .iter()
        .chain([&honest])
        .map(|c| (&c.vk, &c.params, c.instances.len()))
        .collect();
    let keys = keygen(&params, Node::flat(3), &keys_in, &shape).expect("aggregation keygen");
    let vk = keys.pk.get_vk().clone();
    let run = children([&parts[0], &parts[1], &honest]);
    let agg = prove_aggregate(&params, &keys, &run, &shape).expect("aggregate");
    assert!(verify(&params, &vk, &agg.instances, &agg.proof));
    // Its root is the Merkle root over leaves that bind every input commitment of each chunk.
    let leaves = vec![
        ChunkLeaf {
            index: 0,
            h_in: parts[0].instances[0],
            h_out: parts[0].instances[1],
            more_inputs: Vec::new(),
        },
        ChunkLeaf {
            index: 1,
            h_in: parts[1].instances[0],
            h_out: parts[1].instances[1],
            more_inputs: Vec::new(),
        },
        ChunkLeaf {
            index: 2,
            h_in: honest.instances[0],
            h_out: honest.instances[2],
            more_inputs: vec![honest.instances[1]],
        },
    ];
    assert_eq!(agg.root(), MerkleTree::new(leaves).expect("tree").root());

    // The chunk after the parts proven from part 0's very values under another salt: every chunk proof is valid,
    // but the edge from part 0 carries two different commitments.
    let broken = join(&[Fr::from(1234), salt(1)]);
    assert_ne!(broken.instances[0], parts[0].instances[1]);
    let run = children([&parts[0], &parts[1], &broken]);
    let err = prove_aggregate(&params, &keys, &run, &shape).expect_err("a broken edge");
    assert!(err.to_string().contains("cut 1"), "{err}");
    let forged = prove_unchecked(&params, &keys, &run, &shape);
    assert!(
        forged.map_or(true, |a| !verify(&params, &vk, &a.instances, &a.proof)),
        "a broken edge aggregated into a valid proof"
    );
}
