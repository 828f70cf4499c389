//! Aggregation of real chunk proofs (the digits model in 2 chunks): the aggregated proof verifies and states the
//! Merkle root of the run; a broken link, a tampered chunk proof or changed public values give no valid proof.

mod common;

use common::{boundary, children as proofs, digits, input, prove, prove_run};
use dzk_aggregate::{
    broken_copies, keygen, prove_aggregate, read_verifying_key, verify, verifying_key_bytes, Node,
    Shape, ACCUMULATOR_LIMBS,
};
use dzk_merkle::MerkleTree;
use dzk_prover::dev_setup;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::poly::commitment::Params;

/// The aggregation circuit's k (the chunk SRS are prefixes of this one).
const AGG_K: u32 = 19;

#[test]
fn two_chunks_aggregate_into_one_proof_and_attacks_do_not() {
    let clock = std::time::Instant::now();
    let lap = |what: &str| eprintln!("[{:7.1} s] {what}", clock.elapsed().as_secs_f64());
    let params = dev_setup(AGG_K, 7);
    assert_eq!(params.k(), AGG_K);
    let model = digits();
    let cs = prove_run(&params, &model, &[2], &input("digits_3.msgpack"));
    lap("setup and chunk proofs");
    let shape = &Shape {
        public_inputs: 0,
        public_outputs: cs[1].instances.len() - 2,
        reads: Vec::new(),
    };
    let keys_in: Vec<_> = cs
        .iter()
        .map(|c| (&c.vk, &c.params, c.instances.len()))
        .collect();
    let keys = keygen(&params, Node::flat(2), &keys_in, shape).expect("aggregation keygen");
    lap("aggregation keygen");
    let agg = prove_aggregate(&params, &keys, &proofs(&cs), shape).expect("aggregate");
    lap("aggregation proof");

    // The proof and the accumulator it carries verify. (The verifier's own rebuild of this key from the chunk
    // keys, `verifying_key`, takes minutes at this k; the CLI test `an_aggregated_proof_verifies_and_wrong_ones_are_rejected`
    // runs it through `dzk verify-all --aggregate`.)
    let vk = keys.pk.get_vk().clone();
    assert!(verify(&params, &vk, &agg.instances, &agg.proof));
    lap("verification");
    // The key survives the auditor's cache: written, read back, the same key, and it verifies the proof.
    let bytes = verifying_key_bytes(&vk);
    let back = read_verifying_key(&bytes, agg.config).expect("read back");
    assert_eq!(verifying_key_bytes(&back), bytes);
    assert_eq!(back.transcript_repr(), vk.transcript_repr());
    assert!(verify(&params, &back, &agg.instances, &agg.proof));
    let mut other = agg.instances.clone();
    other[ACCUMULATOR_LIMBS] += Fr::from(1);
    assert!(!verify(&params, &back, &other, &agg.proof));
    assert!(read_verifying_key(&bytes[..bytes.len() / 2], agg.config).is_err());
    // It states the run's Merkle root, h_in of chunk 0, h_out of the last chunk and the model outputs.
    let leaves = common::leaves(&cs);
    let root = MerkleTree::new(leaves).expect("tree").root();
    assert_eq!(agg.root(), root);
    let rest = &agg.instances[ACCUMULATOR_LIMBS + 1..];
    assert_eq!(rest[0], cs[0].instances[0]);
    assert_eq!(rest[1], cs[1].instances[1]);
    assert_eq!(&rest[2..], &cs[1].instances[2..]);

    // Changed public values (another root, another output) do not verify.
    for i in [ACCUMULATOR_LIMBS, agg.instances.len() - 1] {
        let mut wrong = agg.instances.clone();
        wrong[i] += Fr::from(1);
        assert!(
            !verify(&params, &vk, &wrong, &agg.proof),
            "public value {i} changed verified"
        );
    }

    // A tampered chunk proof (one byte flipped) is refused before proving.
    let mut tampered = proofs(&cs);
    let at = tampered[1].proof.len() - 40;
    tampered[1].proof[at] ^= 1;
    let err = prove_aggregate(&params, &keys, &tampered, shape).expect_err("tampered");
    assert!(
        err.to_string().contains("chunk 1's proof does not verify"),
        "{err}"
    );

    // A broken link: chunk 1 proven from another input, so h_in(1) ≠ h_out(0) although both chunk proofs are
    // valid. Refused before proving; and the witness of an aggregator that skips the check breaks one copy
    // constraint of the circuit (the link), where the honest run's breaks none. (A proof of such a witness does not
    // verify; the forged proofs themselves are in `cargo xtask slow`'s tree and graph tests.)
    let n = model.layers().len();
    let other_mid = boundary(&model, 2, &input("digits_5.msgpack"));
    let broken = vec![
        prove(&params, &model, (0, 2), &input("digits_3.msgpack")),
        prove(&params, &model, (2, n), &other_mid),
    ];
    assert_ne!(broken[1].instances[0], broken[0].instances[1]);
    let err = prove_aggregate(&params, &keys, &proofs(&broken), shape).expect_err("broken link");
    assert!(err.to_string().contains("cut 1"), "{err}");
    let honest = broken_copies(&params, &keys, &proofs(&cs), shape).expect("laid out");
    assert_eq!(honest, 0, "the honest run breaks copy constraints");
    let forged = broken_copies(&params, &keys, &proofs(&broken), shape).expect("laid out");
    assert_eq!(forged, 1, "the broken link's witness");
    lap("broken link, the cheating aggregator's witness");
}
