//! Real keygen, prove and verify (KZG, SHPLONK), of a one-phase circuit and of one with matrix checks (two
//! phases): an honest proof verifies; a proof with one byte flipped, or checked against other public values, is
//! rejected. A GPU proof asked of a build without the GPU prover is an error.

use std::path::PathBuf;
use std::sync::Arc;

use dzk_backend::Backend;
use dzk_circuit::{ChunkCircuit, LayoutParams, Salts};
use dzk_ir::{Model, TensorFile};
use dzk_prover::{dev_setup, keygen, prove_chunk, ProverError};
use dzk_verifier::verify_chunk;
use halo2_proofs::halo2curves::bn256::Fr;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check(circuit: ChunkCircuit, input: TensorFile) {
    let circuit = circuit
        .with_inputs(
            &input,
            Salts {
                input: Fr::from(11),
                output: Fr::from(12),
            },
        )
        .expect("witness");
    let params = dev_setup(circuit.min_k(), 7);
    let (vk, pk) = keygen(&params, &circuit).expect("keygen");
    let public = circuit.instances().to_vec();
    let proof = prove_chunk(Backend::Cpu, &params, &pk, circuit).expect("prove");
    verify_chunk(&params, &vk, &public, &proof).expect("the honest proof verifies");

    for at in [0, proof.len() / 2, proof.len() - 1] {
        let mut bad = proof.clone();
        bad[at] ^= 1;
        assert!(
            verify_chunk(&params, &vk, &public, &bad).is_err(),
            "flipped byte {at} accepted"
        );
    }
    let mut other = public.clone();
    other[0] += Fr::from(1);
    assert!(
        verify_chunk(&params, &vk, &other, &proof).is_err(),
        "other public values accepted"
    );
    assert!(
        verify_chunk(&params, &vk, &public, &proof[..proof.len() - 1]).is_err(),
        "truncated proof accepted"
    );
}

#[test]
fn mnist_as_one_chunk_proves_and_verifies() {
    let z = repo().join("../shared/models/zkml/mnist");
    let model = Arc::new(Model::load(&z.join("model.msgpack")).expect("model"));
    let n = model.layers().len();
    // The fitted layout checks MNIST's convolutions against a challenge: a two-phase proof.
    let circuit = ChunkCircuit::fit(model, 0, n).expect("supported");
    assert!(circuit.layout().check_width > 0, "{:?}", circuit.layout());
    check(
        circuit,
        TensorFile::load(&z.join("inp.msgpack")).expect("input"),
    );
}

#[test]
fn digits_model_proves_and_verifies() {
    let t = repo().join("testdata");
    let model = Arc::new(Model::load(&t.join("models/digits_cnn.msgpack")).expect("model"));
    let n = model.layers().len();
    // Dot products only: a one-phase proof.
    let circuit = ChunkCircuit::new(model, 0, n, LayoutParams::default()).expect("supported");
    check(
        circuit,
        TensorFile::load(&t.join("inputs/digits_0.msgpack")).expect("input"),
    );
}

#[test]
fn keygen_refuses_params_that_are_too_small() {
    let t = repo().join("testdata");
    let model = Arc::new(Model::load(&t.join("models/digits_cnn.msgpack")).expect("model"));
    let circuit = ChunkCircuit::new(model, 0, 5, LayoutParams::default()).expect("supported");
    let params = dev_setup(circuit.min_k() - 1, 1);
    assert!(matches!(
        keygen(&params, &circuit),
        Err(ProverError::ParamsTooSmall { .. })
    ));
}

#[test]
fn the_gpu_backend_in_a_build_without_it_is_an_error_not_a_cpu_proof() {
    let t = repo().join("testdata");
    let model = Arc::new(Model::load(&t.join("models/digits_cnn.msgpack")).expect("model"));
    let circuit = ChunkCircuit::new(model, 0, 2, LayoutParams::default())
        .expect("supported")
        .with_inputs(
            &TensorFile::load(&t.join("inputs/digits_0.msgpack")).expect("input"),
            Salts {
                input: Fr::from(1),
                output: Fr::from(2),
            },
        )
        .expect("witness");
    let params = dev_setup(circuit.min_k(), 3);
    let (_, pk) = keygen(&params, &circuit).expect("keygen");
    // This test binary is built without the `gpu` feature (only dzk-gpu has it).
    const { assert!(!dzk_backend::GPU_BUILT) };
    let r = prove_chunk(Backend::Gpu, &params, &pk, circuit);
    assert!(
        matches!(
            r,
            Err(ProverError::Backend(dzk_backend::BackendError::GpuNotBuilt))
        ),
        "{r:?}"
    );
}
