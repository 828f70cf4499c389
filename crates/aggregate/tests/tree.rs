//! A tree of aggregations (the digits model in 3 chunks, 2 proofs per node: chunks 0 and 1 in one node, chunk 2
//! and a padding leaf in another, the root over both): the root's proof verifies under the key an auditor rebuilds
//! and states the run's Merkle root; at the root, where the children are aggregated proofs, a broken link, a
//! tampered or forged child and a child whose accumulator is false give no valid proof.

mod common;

use common::{boundary, children, digits, input, prove, prove_run};
use dzk_aggregate::{
    aggregate_tree, keygen, prove_aggregate, prove_unchecked, tree, tree_verifying_keys, verify,
    Aggregated, Child, ChildKey, Shape, ACCUMULATOR_LIMBS,
};
use dzk_merkle::tree::{node, padding};
use dzk_merkle::MerkleTree;
use dzk_prover::dev_setup;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;

/// Every aggregation node's k (the chunk SRS are prefixes of this one).
const AGG_K: u32 = 19;

fn child<'a>(
    vk: &'a VerifyingKey<G1Affine>,
    params: &'a ParamsKZG<Bn256>,
    a: &Aggregated,
) -> Child<'a> {
    Child {
        vk,
        params,
        instances: a.instances.clone(),
        proof: a.proof.clone(),
    }
}

#[test]
#[ignore = "seven aggregation proofs and five aggregation keygens: about an hour on a 2-core machine, too long \
            for CI; run with `cargo xtask slow`"]
fn three_chunks_aggregate_through_a_tree_and_attacks_at_its_root_do_not() {
    let clock = std::time::Instant::now();
    let lap = |what: &str| eprintln!("[{:7.1} s] {what}", clock.elapsed().as_secs_f64());
    let params = dev_setup(AGG_K, 7);
    let model = digits();
    let n = model.layers().len();
    let cs = prove_run(&params, &model, &[2, 3], &input("digits_3.msgpack"));
    let shape = &Shape {
        public_inputs: 0,
        public_outputs: cs[2].instances.len() - 2,
        reads: Vec::new(),
        output_parts: Vec::new(),
    };
    lap("setup and chunk proofs");

    let mut steps = Vec::new();
    let t = aggregate_tree(&params, &children(&cs), 2, shape, |s| {
        steps.push((s.level, s.index, s.nodes, s.levels))
    })
    .expect("tree");
    assert_eq!(steps, vec![(0, 0, 2, 2), (0, 1, 2, 2), (1, 0, 1, 2)]);
    lap("tree: 2 nodes over the chunks, then the root");

    // The auditor's keys, rebuilt from the chunk keys and the configurations the proof records.
    let chunk_keys: Vec<ChildKey<'_>> = cs
        .iter()
        .map(|c| (&c.vk, &c.params, c.instances.len()))
        .collect();
    let vks = tree_verifying_keys(&params, &chunk_keys, 2, &t.configs(), shape, |_| {})
        .expect("verifying keys");
    lap("verifying keys rebuilt");
    let (root, root_vk) = (t.root(), &vks[1][0]);
    assert!(verify(&params, root_vk, &root.instances, &root.proof));
    // Configurations for another tree shape are refused, not misread.
    let mut flat = t.configs();
    flat.pop();
    assert!(tree_verifying_keys(&params, &chunk_keys, 2, &flat, shape, |_| {}).is_err());

    // The root states what the flat aggregation states: the run's Merkle root (the tree's padding included),
    // h_in of chunk 0, h_out of chunk 2 and the model outputs; each node below states its subtree's top.
    let leaves = common::leaves(&cs);
    assert_eq!(
        root.root(),
        MerkleTree::new(leaves.clone()).expect("tree").root()
    );
    let rest = &root.instances[ACCUMULATOR_LIMBS + 1..];
    assert_eq!(rest[0], cs[0].instances[0]);
    assert_eq!(rest[1], cs[2].instances[1]);
    assert_eq!(&rest[2..], &cs[2].instances[2..]);
    let (g0, g1) = (&t.levels[0][0], &t.levels[0][1]);
    assert_eq!(g0.root(), node(leaves[0].hash(), leaves[1].hash()));
    assert_eq!(g1.root(), node(leaves[2].hash(), padding()));
    assert_eq!(g0.instances.len(), ACCUMULATOR_LIMBS + 3);
    assert_eq!(
        &g1.instances[ACCUMULATOR_LIMBS + 3..],
        &cs[2].instances[2..]
    );
    assert!(verify(&params, &vks[0][0], &g0.instances, &g0.proof));
    assert!(verify(&params, &vks[0][1], &g1.instances, &g1.proof));
    for i in [ACCUMULATOR_LIMBS, root.instances.len() - 1] {
        let mut wrong = root.instances.clone();
        wrong[i] += Fr::from(1);
        assert!(
            !verify(&params, root_vk, &wrong, &root.proof),
            "root public value {i} changed verified"
        );
    }

    // The root's keys, made from its children's keys: the key the auditor rebuilt.
    let levels = tree(3, 2).expect("shape");
    let (vk0, vk1) = (&vks[0][0], &vks[0][1]);
    let root_keys = keygen(
        &params,
        levels[1][0],
        &[
            (vk0, &params, g0.instances.len()),
            (vk1, &params, g1.instances.len()),
        ],
        shape,
    )
    .expect("root keygen");
    assert_eq!(
        root_keys.pk.get_vk().transcript_repr(),
        root_vk.transcript_repr()
    );
    let g1_keys = keygen(&params, levels[0][1], &chunk_keys[2..], shape).expect("node keygen");
    lap("root and node keys");

    // A child proof with one byte flipped, or with a changed accumulator limb, is refused before proving.
    let mut tampered = child(vk0, &params, g0);
    let at = tampered.proof.len() - 40;
    tampered.proof[at] ^= 1;
    let err = prove_aggregate(
        &params,
        &root_keys,
        &[tampered, child(vk1, &params, g1)],
        shape,
    )
    .expect_err("tampered child");
    assert!(
        err.to_string()
            .contains("the aggregated proof of chunks 0..2's proof does not verify"),
        "{err}"
    );
    let mut forged = child(vk1, &params, g1);
    forged.instances[0] += Fr::from(1);
    let err = prove_aggregate(
        &params,
        &root_keys,
        &[child(vk0, &params, g0), forged],
        shape,
    )
    .expect_err("forged accumulator");
    assert!(
        err.to_string()
            .contains("chunks 2..3's proof does not verify"),
        "{err}"
    );

    // A broken link between the two subtrees: chunk 2 proven from another input, its node's proof valid on its
    // own. Refused before proving; an aggregator that skips the check gets a root proof that does not verify.
    let other = prove(
        &params,
        &model,
        (3, n),
        &boundary(&model, 3, &input("digits_5.msgpack")),
    );
    let other_cs = [other];
    let g1_other =
        prove_aggregate(&params, &g1_keys, &children(&other_cs), shape).expect("node alone");
    assert!(verify(&params, vk1, &g1_other.instances, &g1_other.proof));
    let linked = [child(vk0, &params, g0), child(vk1, &params, &g1_other)];
    let err = prove_aggregate(&params, &root_keys, &linked, shape).expect_err("broken link");
    assert!(err.to_string().contains("cut 2"), "{err}");
    let forged = prove_unchecked(&params, &root_keys, &linked, shape);
    assert!(
        forged.map_or(true, |a| !verify(&params, root_vk, &a.instances, &a.proof)),
        "a broken link between subtrees aggregated into a valid root proof"
    );
    lap("broken link across subtrees");

    // A node whose accumulator is false: chunk 2's proof with one evaluation changed, aggregated by a cheating
    // node prover. The node's own proof is sound as a circuit proof, but its accumulator fails the pairing; the
    // root folds that accumulator into its own, so the root proof does not verify either.
    // (Byte `len − 80` is inside the last evaluation, before SHPLONK's two closing points: still a field element.)
    let mut bad = children(&cs[2..]);
    let at = bad[0].proof.len() - 80;
    bad[0].proof[at] ^= 1;
    let g1_bad = prove_unchecked(&params, &g1_keys, &bad, shape).expect("a cheating node proves");
    assert!(!verify(&params, vk1, &g1_bad.instances, &g1_bad.proof));
    let forged = prove_unchecked(
        &params,
        &root_keys,
        &[child(vk0, &params, g0), child(vk1, &params, &g1_bad)],
        shape,
    );
    assert!(
        forged.map_or(true, |a| !verify(&params, root_vk, &a.instances, &a.proof)),
        "a child's false accumulator aggregated into a valid root proof"
    );
    lap("false accumulator below the root");
}
