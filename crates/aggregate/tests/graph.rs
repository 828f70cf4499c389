//! A graph-shaped run's forged aggregation (`cargo xtask slow`): an aggregator that skips the native checks and
//! proves a run whose edge carries two different commitments gets no proof that verifies. (The honest run, the
//! refusals and the broken copy constraints of the same attacks are in `aggregate.rs`, in CI.)

mod common;

use common::{children, Graph};
use dzk_aggregate::{keygen, prove_unchecked, verify, Node};
use dzk_prover::dev_setup;
use halo2_proofs::halo2curves::bn256::Fr;

/// The aggregation circuit's k (the chunk SRS are prefixes of this one).
const AGG_K: u32 = 18;

#[test]
#[ignore = "an aggregation keygen and a forged aggregation proof (about 12 minutes on a 2-core machine): run by `cargo xtask slow`"]
fn an_edge_whose_commitments_differ_gives_no_proof_that_verifies() {
    let params = dev_setup(AGG_K, 7);
    let g = Graph::prove(&params);
    let keys_in: Vec<_> = g
        .chunks
        .iter()
        .map(|c| (&c.vk, &c.params, c.instances.len()))
        .collect();
    let keys = keygen(&params, Node::flat(3), &keys_in, &g.shape).expect("aggregation keygen");
    let vk = keys.pk.get_vk().clone();
    // The join proven from part 0's very values under another salt: every chunk proof is valid, but the edge from
    // part 0 carries two different commitments.
    let broken = g.join_under(&params, &[Fr::from(1234), Graph::salt(1)]);
    assert_ne!(broken.instances[0], g.part(0).instances[1]);
    let run = children([g.part(0), g.part(1), &broken]);
    let forged = prove_unchecked(&params, &keys, &run, &g.shape);
    assert!(
        forged.map_or(true, |a| !verify(&params, &vk, &a.instances, &a.proof)),
        "a broken edge aggregated into a valid proof"
    );
}
