//! Aggregation of real chunk proofs, in CI. A graph-shaped run (the digits CNN with its first layers split into
//! two parts and a chunk joining them) aggregates into one proof that verifies and states the Merkle root over
//! leaves that bind every input commitment; changed public values, a tampered chunk proof, an edge whose
//! commitments differ and parts that read the model's input under different commitments give no valid proof. A
//! chain (the digits CNN in 2 chunks) with a broken link is refused too, and its witness breaks the link's copy
//! constraint (a chain's aggregated proof is made and verified in CI by the CLI's pipeline tests; its forged
//! proofs, and the graph's, are in `cargo xtask slow`).

mod common;

use common::{boundary, children, digits, input, prove, prove_run, Graph};
use dzk_aggregate::{
    broken_copies, check_children, configure, keygen, prove_aggregate, read_verifying_key, verify,
    verifying_key_bytes, Node, Shape, ACCUMULATOR_LIMBS,
};
use dzk_merkle::MerkleTree;
use dzk_prover::dev_setup;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::poly::commitment::Params;

/// The aggregation circuit's k, its smallest (the chunk SRS are prefixes of this one).
const AGG_K: u32 = 18;

#[test]
fn a_graph_shaped_run_aggregates_into_one_proof_and_attacks_do_not() {
    let clock = std::time::Instant::now();
    let lap = |what: &str| eprintln!("[{:7.1} s] {what}", clock.elapsed().as_secs_f64());
    let params = dev_setup(AGG_K, 7);
    assert_eq!(params.k(), AGG_K);
    let g = Graph::prove(&params);
    let shape = &g.shape;
    lap("setup and chunk proofs");
    let keys_in: Vec<_> = g
        .chunks
        .iter()
        .map(|c| (&c.vk, &c.params, c.instances.len()))
        .collect();
    let keys = keygen(&params, Node::flat(3), &keys_in, shape).expect("aggregation keygen");
    lap("aggregation keygen");
    let run = children(&g.chunks);
    let agg = prove_aggregate(&params, &keys, &run, shape).expect("aggregate");
    lap("aggregation proof");

    // The proof and the accumulator it carries verify. (The verifier's own rebuild of this key from the chunk
    // keys, `verifying_key`, takes minutes; the CLI test `an_aggregated_proof_verifies_and_wrong_ones_are_rejected`
    // runs it through `dzk verify-all --aggregate`.)
    let vk = keys.pk.get_vk().clone();
    assert!(verify(&params, &vk, &agg.instances, &agg.proof));
    // The key survives the auditor's cache: written, read back, the same key, and it verifies the proof.
    let bytes = verifying_key_bytes(&vk);
    let back = read_verifying_key(&bytes, agg.config).expect("read back");
    assert_eq!(verifying_key_bytes(&back), bytes);
    assert_eq!(back.transcript_repr(), vk.transcript_repr());
    assert!(verify(&params, &back, &agg.instances, &agg.proof));
    assert!(read_verifying_key(&bytes[..bytes.len() / 2], agg.config).is_err());
    lap("verification");
    // It states the run's Merkle root over leaves that bind every input commitment, h_in of chunk 0, h_out of the
    // last chunk (the join's, after its two input commitments) and the model outputs.
    let root = MerkleTree::new(g.leaves()).expect("tree").root();
    assert_eq!(agg.root(), root);
    let rest = &agg.instances[ACCUMULATOR_LIMBS + 1..];
    assert_eq!(rest[0], g.part(0).instances[0]);
    assert_eq!(rest[1], g.join().instances[2]);
    assert_eq!(&rest[2..], &g.join().instances[3..]);
    // Changed public values (accumulator, root, h_in, an output) do not verify.
    for i in [
        0,
        ACCUMULATOR_LIMBS,
        ACCUMULATOR_LIMBS + 1,
        agg.instances.len() - 1,
    ] {
        let mut wrong = agg.instances.clone();
        wrong[i] += Fr::from(1);
        assert!(
            !verify(&params, &vk, &wrong, &agg.proof),
            "public value {i} changed verified"
        );
    }

    // A tampered chunk proof (one byte flipped) is refused before proving.
    let mut tampered = children(&g.chunks);
    let at = tampered[1].proof.len() - 40;
    tampered[1].proof[at] ^= 1;
    let err = prove_aggregate(&params, &keys, &tampered, shape).expect_err("tampered");
    assert!(
        err.to_string().contains("chunk 1's proof does not verify"),
        "{err}"
    );

    // Every check below: refused before proving with its reason, and the witness of an aggregator that skips the
    // checks breaks copy constraints of the circuit where the honest run's breaks none. (A proof of such a witness
    // does not verify; the forged proof of a broken edge is in `cargo xtask slow`.)
    let copies = |run: &[dzk_aggregate::Child<'_>]| {
        broken_copies(&params, (keys.node, keys.config), run, shape).expect("laid out")
    };
    assert_eq!(copies(&run), 0, "the honest run breaks copy constraints");
    // An edge whose commitments differ: the join proven from part 0's very values under another salt, so every
    // chunk proof is valid on its own. One copy constraint, the edge's.
    let other_join = g.join_under(&params, &[Fr::from(1234), Graph::salt(1)]);
    assert_ne!(other_join.instances[0], g.part(0).instances[1]);
    let broken = children([g.part(0), g.part(1), &other_join]);
    let err = prove_aggregate(&params, &keys, &broken, shape).expect_err("a broken edge");
    assert!(
        err.to_string()
            .contains("cut 1: chunk 0's output commitment differs from chunk 2's input commitment"),
        "{err}"
    );
    assert_eq!(copies(&broken), 1, "the broken edge's witness");
    // Part 1 proven from the model's very input under another salt: the two readers of the model's input state
    // different commitments to it. One copy constraint, chunk 0's h_in against chunk 1's.
    let other_part = g.part_under(&params, 1, Fr::from(4321));
    assert_ne!(other_part.instances[0], g.part(0).instances[0]);
    assert_eq!(other_part.instances[1], g.part(1).instances[1]);
    let split_input = children([g.part(0), &other_part, g.join()]);
    let err = prove_aggregate(&params, &keys, &split_input, shape).expect_err("two inputs");
    assert!(
        err.to_string()
            .contains("chunks 0 and 1 read the model's inputs under different commitments"),
        "{err}"
    );
    assert_eq!(copies(&split_input), 1, "two commitments to the input");
    // Parts swapped: each part's output commitment no longer meets the join's input commitment for it.
    let swapped = children([g.part(1), g.part(0), g.join()]);
    assert!(prove_aggregate(&params, &keys, &swapped, shape).is_err());
    assert!(
        copies(&swapped) >= 1,
        "swapped parts break no copy constraint"
    );
    lap("attacks");
}

#[test]
fn a_chain_with_a_broken_link_is_refused_and_its_witness_breaks_the_link() {
    // No keys: the checks need none, and the circuit's copy constraints are laid out from its configuration.
    let params = dev_setup(AGG_K, 7);
    let model = digits();
    let cs = prove_run(&params, &model, &[2], &input("digits_3.msgpack"));
    let shape = &Shape {
        public_inputs: 0,
        public_outputs: cs[1].instances.len() - 2,
        reads: Vec::new(),
        output_parts: Vec::new(),
    };
    let node = Node::flat(2);
    let keys_in: Vec<_> = cs
        .iter()
        .map(|c| (&c.vk, &c.params, c.instances.len()))
        .collect();
    let config = configure(&params, node, &keys_in, shape).expect("configuration");
    check_children(node, &children(&cs), shape).expect("the honest run");
    assert_eq!(
        broken_copies(&params, (node, config), &children(&cs), shape).expect("laid out"),
        0,
        "the honest run breaks copy constraints"
    );
    // Chunk 1 proven from another input, so h_in(1) ≠ h_out(0) although both chunk proofs are valid.
    let n = model.layers().len();
    let other_mid = boundary(&model, 2, &input("digits_5.msgpack"));
    let broken = [
        prove(&params, &model, (0, 2), &input("digits_3.msgpack")),
        prove(&params, &model, (2, n), &other_mid),
    ];
    assert_ne!(broken[1].instances[0], broken[0].instances[1]);
    let err = check_children(node, &children(&broken), shape).expect_err("broken link");
    assert!(
        err.to_string()
            .contains("cut 1: chunk 0's output commitment differs from chunk 1's input commitment"),
        "{err}"
    );
    assert_eq!(
        broken_copies(&params, (node, config), &children(&broken), shape).expect("laid out"),
        1,
        "the broken link's witness"
    );
}

/// A run whose last layer is split into parts that state the model's outputs (`Shape::output_parts`; the wide
/// head of `testdata/`, its head in 2 parts after a chunk of the first layer): no keys needed. The children
/// check, the honest witness breaks no copy constraint, and the node states every part's outputs, part after
/// part, after `h_in` and the last part's `h_out`; a part whose outputs are miscounted or a tree over the parts
/// is refused.
#[test]
fn parts_that_state_the_outputs_aggregate_with_every_share() {
    use std::sync::Arc;

    use dzk_circuit::{ChunkIo, InputGroup};
    use dzk_ir::{Model, SplitAt};

    let params = dev_setup(AGG_K, 7);
    let bytes =
        std::fs::read(common::repo().join("testdata/models/wide_head.msgpack")).expect("model");
    let at = [SplitAt {
        layer: 1,
        parts: 2,
        tail: 1,
    }];
    let split = Model::split_layers_with_tails(&bytes, "wide_head", &at).expect("split");
    let m = Arc::new(Model::from_msgpack(&split.bytes, "wide_head").expect("load"));
    let sec = split.sections[0];
    assert_eq!(
        sec.join() + 1,
        m.layers().len(),
        "the concatenation is the last layer"
    );
    let x = input("wide_head.msgpack");
    let mut cs = vec![prove(&params, &m, (0, 1), &x)];
    let h = boundary(&m, 1, &x);
    for p in 0..2 {
        let (a, b) = sec.part(p);
        let io = ChunkIo {
            groups: vec![InputGroup {
                model_inputs: false,
                tensors: m.live_at(sec.start),
            }],
            outputs: m.layers()[b - 1].outputs.clone(),
            public_outputs: true,
        };
        // Chunk 0's output salt is 11 · 2 (`common::prove`).
        cs.push(common::prove_io(
            &params,
            &m,
            (a, b),
            &io,
            &h,
            &[Fr::from(22)],
            Fr::from(5),
        ));
    }
    let shares: Vec<usize> = cs[1..].iter().map(|c| c.instances.len() - 2).collect();
    assert_eq!(shares, [1024, 1024]);
    let shape = &Shape {
        public_inputs: 0,
        public_outputs: 2048,
        reads: vec![vec![0], vec![1], vec![1]],
        output_parts: shares,
    };
    let node = Node::flat(3);
    let keys_in: Vec<_> = cs
        .iter()
        .map(|c| (&c.vk, &c.params, c.instances.len()))
        .collect();
    let config = configure(&params, node, &keys_in, shape).expect("configuration");
    check_children(node, &children(&cs), shape).expect("the honest run");
    assert_eq!(
        broken_copies(&params, (node, config), &children(&cs), shape).expect("laid out"),
        0
    );
    let stated = dzk_aggregate::public_values(&params, (node, config), &children(&cs), shape)
        .expect("laid out");
    let mut want = vec![cs[0].instances[0], cs[2].instances[1]];
    want.extend_from_slice(&cs[1].instances[2..]);
    want.extend_from_slice(&cs[2].instances[2..]);
    assert_eq!(stated.len(), ACCUMULATOR_LIMBS + 3 + 2048);
    assert_eq!(&stated[ACCUMULATOR_LIMBS + 1..], want.as_slice());
    // The outputs counted as the last chunk's alone: the parts do not have that many instances.
    let wrong = &Shape {
        output_parts: Vec::new(),
        ..shape.clone()
    };
    let err = configure(&params, node, &keys_in, wrong).expect_err("miscounted outputs");
    assert!(err.to_string().contains("instances"), "{err}");
    // A tree over the parts is refused: a run whose parts state the outputs is aggregated by one node.
    let t = dzk_aggregate::tree(3, 2).expect("tree");
    assert!(configure(&params, t[0][0], &keys_in[..2], shape).is_err());
}
