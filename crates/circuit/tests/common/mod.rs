//! Helpers shared by the chunk-circuit tests: the test salts, MockProver runs, and the instances an honest chunk
//! must have.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, Salts, Visibility};
use dzk_gadgets::{fe, Fr};
use dzk_ir::{Model, Tensor, TensorFile};
use dzk_merkle::commit;
use halo2_proofs::dev::MockProver;

/// Outputs in the clear (so tests can compare them with the forward pass), inputs hashed.
pub const OUT_PUBLIC: Visibility = Visibility {
    public_input: false,
    public_output: true,
};

pub fn salts() -> Salts {
    Salts {
        input: Fr::from(0x5a17),
        output: Fr::from(0xbeef),
    }
}

/// The chunk with its witness, the model's outputs public and the test salts.
pub fn witness(c: ChunkCircuit, input: &TensorFile) -> ChunkCircuit {
    c.with_visibility(OUT_PUBLIC)
        .with_inputs(input, salts())
        .expect("witness")
}

/// The values of the tensors `idxs` in `file`, flattened in order.
pub fn values(file: &TensorFile, idxs: &[i64]) -> Vec<i64> {
    idxs.iter()
        .flat_map(|i| file.get(*i).expect("tensor").data().to_vec())
        .collect()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn mnist() -> (Arc<Model>, TensorFile) {
    let z = repo().join("../shared/models/zkml/mnist");
    (
        Arc::new(Model::load(&z.join("model.msgpack")).expect("model")),
        TensorFile::load(&z.join("inp.msgpack")).expect("input"),
    )
}

pub fn digits() -> (Arc<Model>, TensorFile) {
    let t = repo().join("testdata");
    (
        Arc::new(Model::load(&t.join("models/digits_cnn.msgpack")).expect("model")),
        TensorFile::load(&t.join("inputs/digits_3.msgpack")).expect("input"),
    )
}

pub fn mock(c: &ChunkCircuit, public: Vec<Fr>) -> Result<(), String> {
    let prover =
        MockProver::run(c.min_k(), c, vec![public]).map_err(|e| format!("synthesis: {e:?}"))?;
    prover
        .verify()
        .map_err(|e| format!("{} failures, first: {:?}", e.len(), e.first()))
}

/// A model written as zkml JSON (encoded to msgpack, then loaded as a file would be).
pub fn json_model(m: &serde_json::Value, name: &str) -> Arc<Model> {
    Arc::new(
        Model::from_msgpack(&rmp_serde::to_vec_named(m).expect("encode"), name).expect("model"),
    )
}

/// An input file written as JSON.
pub fn json_input(v: &serde_json::Value) -> TensorFile {
    TensorFile::from_msgpack(&rmp_serde::to_vec_named(v).expect("encode"), "in").expect("input")
}

pub fn flat(t: &Tensor) -> Vec<Fr> {
    t.data().iter().map(|&v| fe::<Fr>(v.into())).collect()
}

/// The instances a chunk must have: `h_in` of its inputs, `h_out` (of nothing when the outputs are public), and
/// the public outputs, all computed natively from the forward pass.
pub fn expected_instances(model: &Arc<Model>, c: &ChunkCircuit, input: &TensorFile) -> Vec<Fr> {
    let (start, end) = c.range();
    let (ins, outs) = model.slice_boundary(start, end);
    let forward = model.forward_range(start, end, input).expect("forward");
    let last = end == model.layers().len();
    let out_vals = values(forward.outputs(), &outs);
    let mut want = vec![
        commit(salts().input, &values(input, &ins)).expect("packable"),
        commit(salts().output, if last { &[] } else { &out_vals }).expect("packable"),
    ];
    if last {
        want.extend(out_vals.iter().map(|&v| fe::<Fr>(v.into())));
    }
    want
}

/// The checks every honest chunk must pass: its instances are the commitments and the forward pass's outputs,
/// MockProver accepts them, the cost model equals the rows laid out, and changing public output `tamper`
/// (or either commitment) is rejected.
pub fn assert_proves_forward(
    model: &Arc<Model>,
    c: &ChunkCircuit,
    input: &TensorFile,
    tamper: usize,
) {
    let expected = expected_instances(model, c, input);
    assert_eq!(c.instances(), expected.as_slice());
    assert_eq!(mock(c, expected.clone()), Ok(()));
    assert_eq!(
        c.rows(),
        c.rows_laid_out(),
        "the cost model is the real layout"
    );
    assert_eq!(
        c.row_cursors().into_iter().max(),
        Some(c.rows()),
        "the furthest cursor sets the rows"
    );
    // A middle chunk has no public outputs: only its two commitments.
    for i in [0, 1, 2 + tamper]
        .into_iter()
        .filter(|&i| i < expected.len())
    {
        let mut wrong = expected.clone();
        wrong[i] += Fr::from(1);
        assert!(
            mock(c, wrong).is_err(),
            "instance {i} changed by one was accepted"
        );
    }
}
