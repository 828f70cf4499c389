//! Chunk circuits on real models: MockProver accepts the honest witness with public outputs equal to the
//! forward pass, rejects wrong public values, chunks chain, the cost model equals the real layout, and a
//! slice's k falls with its size.

use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, CircuitError, LayoutParams, Salts};
use dzk_gadgets::{fe, Fr};
use dzk_ir::{Model, Tensor, TensorFile};

mod common;
use common::*;

#[test]
fn digits_model_as_one_chunk_proves_its_forward_outputs() {
    let (model, input) = digits();
    let n = model.layers().len();
    let c = ChunkCircuit::new(model.clone(), 0, n, LayoutParams::default()).expect("supported");
    let c = witness(c, &input);
    // A wrong public output (the logit of class 0 raised by one) is rejected.
    assert_proves_forward(&model, &c, &input, 0);
}

#[test]
fn mnist_as_one_chunk_matches_zkml_reference() {
    let (model, input) = mnist();
    let c = ChunkCircuit::new(model, 0, 16, LayoutParams::default()).expect("supported");
    let c = witness(c, &input);
    let reference: Vec<Fr> = [
        -5312i128, -8056, -8186, -1669, -4260, 6614, -5131, -6862, -3047, -805,
    ]
    .iter()
    .map(|&v| fe(v))
    .collect();
    assert_eq!(&c.instances()[2..], reference.as_slice());
    assert_eq!(mock(&c, c.instances().to_vec()), Ok(()));
    assert_eq!(c.rows(), c.rows_laid_out());
}

#[test]
fn mnist_with_matrix_checks_matches_zkml_reference_in_fewer_rows() {
    let (model, input) = mnist();
    let dots = ChunkCircuit::new(model.clone(), 0, 16, LayoutParams::default()).expect("supported");
    let p = LayoutParams {
        check_width: 4,
        ..LayoutParams::default()
    };
    let c = witness(
        ChunkCircuit::new(model.clone(), 0, 16, p).expect("supported"),
        &input,
    );
    // The same statement as with dot products: the commitments and zkml's reference output.
    let expected = expected_instances(&model, &c, &input);
    assert_eq!(c.instances(), expected.as_slice());
    assert_eq!(mock(&c, expected.clone()), Ok(()));
    assert_eq!(
        c.rows(),
        c.rows_laid_out(),
        "the cost model is the real layout"
    );
    // The three big convolutions go to the chip; the three with a single row or few outputs stay dot products.
    assert_eq!(c.matrix_checks(), 3);
    // Their dot products leave the shared columns: the chunk needs far fewer rows.
    assert!(
        2 * c.rows() < dots.rows(),
        "{} rows with checks, {} without",
        c.rows(),
        dots.rows()
    );
    for i in [0, 1, 2 + 5] {
        let mut wrong = expected.clone();
        wrong[i] += Fr::from(1);
        assert!(
            mock(&c, wrong).is_err(),
            "instance {i} changed by one was accepted"
        );
    }
}

#[test]
fn digits_model_with_matrix_checks_proves_its_forward_outputs() {
    let (model, input) = digits();
    let n = model.layers().len();
    for w in [4, 8] {
        let p = LayoutParams {
            check_width: w,
            ..LayoutParams::default()
        };
        let c = witness(
            ChunkCircuit::new(model.clone(), 0, n, p).expect("supported"),
            &input,
        );
        // The convolution by the chip; the two single-row fully connected layers are cheaper as dot products.
        assert_eq!(c.matrix_checks(), 1, "width {w}");
        assert_proves_forward(&model, &c, &input, 1);
    }
}

#[test]
fn padded_strided_and_depthwise_convolutions_match_with_and_without_matrix_checks() {
    use serde_json::json;
    let w1: Vec<i64> = (0..144).map(|i| (i * 7 % 13) - 6).collect();
    let w2: Vec<i64> = (0..72).map(|i| (i * 5 % 11) - 5).collect();
    // SAME padding with stride 2 (taps on the padding are left out of a product's rows), then a depthwise
    // SAME convolution (dot products either way).
    let m = json!({
        "global_sf": 16, "k": 12, "num_cols": 6, "inp_idxes": [0], "out_idxes": [5],
        "tensors": [
            {"idx": 1, "shape": [8, 3, 3, 2], "data": w1},
            {"idx": 2, "shape": [8], "data": [5, -9, 0, 3, 0, 0, 1, -1]},
            {"idx": 3, "shape": [1, 3, 3, 8], "data": w2},
            {"idx": 4, "shape": [8], "data": [1, 2, -3, 0, 4, 0, 0, -2]},
        ],
        "layers": [
            {"layer_type": "Conv2D", "params": [0, 0, 1, 2, 2], "inp_idxes": [0, 1, 2],
             "inp_shapes": [[1, 5, 5, 2], [8, 3, 3, 2], [8]], "out_idxes": [6], "out_shapes": [[1, 3, 3, 8]],
             "mask": []},
            {"layer_type": "Conv2D", "params": [1, 0, 0, 1, 1], "inp_idxes": [6, 3, 4],
             "inp_shapes": [[1, 3, 3, 8], [1, 3, 3, 8], [8]], "out_idxes": [5], "out_shapes": [[1, 3, 3, 8]],
             "mask": []},
        ],
    });
    let model = json_model(&m, "convs.msgpack");
    let data: Vec<i64> = (0..50).map(|i| (i * 11 % 37) - 18).collect();
    let input = json_input(&json!([{"idx": 0, "shape": [1, 5, 5, 2], "data": data}]));
    for w in [0, 8] {
        let p = LayoutParams {
            check_width: w,
            ..LayoutParams::default()
        };
        let c = witness(
            ChunkCircuit::new(model.clone(), 0, 2, p).expect("supported"),
            &input,
        );
        assert_eq!(c.matrix_checks(), usize::from(w > 0), "width {w}");
        assert_proves_forward(&model, &c, &input, 4);
    }
}

#[test]
fn mnist_in_two_chunks_chains_and_each_half_is_smaller() {
    let (model, input) = mnist();
    let whole = ChunkCircuit::new(model.clone(), 0, 16, LayoutParams::default()).expect("whole");
    let first = witness(
        ChunkCircuit::new(model.clone(), 0, 4, LayoutParams::default()).expect("first"),
        &input,
    );
    assert_eq!(mock(&first, first.instances().to_vec()), Ok(()));
    // The second chunk is proven from the first chunk's boundary output (tensor 25), as another machine would.
    let trace = model.forward_range(0, 4, &input).expect("forward");
    let handoff = trace.outputs().clone();
    assert_eq!(handoff.tensors()[0].0, 25);
    assert_eq!(first.boundary_outputs(), Some(&handoff));
    // The second chunk's input salt is the first chunk's output salt: the producer hands it on.
    let second = ChunkCircuit::new(model.clone(), 4, 16, LayoutParams::default())
        .expect("second")
        .with_visibility(OUT_PUBLIC)
        .with_inputs(
            &handoff,
            Salts {
                input: salts().output,
                output: Fr::from(3),
            },
        )
        .expect("witness");
    assert_eq!(mock(&second, second.instances().to_vec()), Ok(()));
    assert_eq!(
        second.instances()[0],
        first.instances()[1],
        "h_in(1) == h_out(0)"
    );
    let full = model.forward(&input).expect("forward");
    assert_eq!(
        &second.instances()[2..],
        flat(&full.outputs().tensors()[0].1).as_slice()
    );
    // A second chunk fed another activation (one value off) commits to something else: the link breaks.
    let mut other = handoff.tensors()[0].1.data().to_vec();
    other[0] += 1;
    let other = TensorFile::new(vec![(
        25,
        Tensor::new(handoff.tensors()[0].1.shape().to_vec(), other).expect("tensor"),
    )])
    .expect("file");
    let forged = ChunkCircuit::new(model.clone(), 4, 16, LayoutParams::default())
        .expect("second")
        .with_visibility(OUT_PUBLIC)
        .with_inputs(
            &other,
            Salts {
                input: salts().output,
                output: Fr::from(3),
            },
        )
        .expect("witness");
    assert_ne!(forged.instances()[0], first.instances()[1]);
    // And the circuit cannot claim the honest h_in while reading the other activation.
    let mut claim = forged.instances().to_vec();
    claim[0] = first.instances()[1];
    assert!(mock(&forged, claim).is_err());
    // Rows fall with the slice; halves at the balanced cut both need fewer rows than the whole.
    for (a, b) in [(0, 4), (4, 16), (0, 8), (8, 16)] {
        let part = ChunkCircuit::new(model.clone(), a, b, LayoutParams::default()).expect("part");
        assert!(
            part.rows() < whole.rows(),
            "{a}..{b}: {} rows vs {} for the whole",
            part.rows(),
            whole.rows()
        );
    }
}

#[test]
fn a_wrong_boundary_output_of_a_middle_chunk_is_rejected() {
    let (model, input) = mnist();
    let c = ChunkCircuit::new(model, 4, 8, LayoutParams::default()).expect("chunk");
    let (full, _) = mnist();
    let handoff = full
        .forward_range(0, 4, &input)
        .expect("forward")
        .outputs()
        .clone();
    let c = witness(c, &handoff);
    assert_eq!(
        c.instances().len(),
        2,
        "a middle chunk publishes only its two commitments"
    );
    assert_eq!(
        c.instances(),
        expected_instances(&c.model().clone(), &c, &handoff).as_slice()
    );
    assert_eq!(mock(&c, c.instances().to_vec()), Ok(()));
    let mut wrong = c.instances().to_vec();
    wrong[1] -= Fr::from(1);
    assert!(mock(&c, wrong).is_err());
}

#[test]
fn unsupported_layers_and_bad_slices_are_errors() {
    let (model, _) = mnist();
    assert!(matches!(
        ChunkCircuit::new(model.clone(), 3, 3, LayoutParams::default()),
        Err(CircuitError::BadSlice { .. })
    ));
    assert!(matches!(
        ChunkCircuit::new(model, 0, 17, LayoutParams::default()),
        Err(CircuitError::BadSlice { .. })
    ));
    // A weight-less config's FullyConnected reads its weights as a free tensor, an input like any activation:
    // it has a chip path (the product of two activations). Partition refuses such a file before it gets here.
    let cfg = Arc::new(
        Model::load(&repo().join("../shared/models/zkml/gpt-2/config.msgpack")).expect("gpt-2"),
    );
    let fc = cfg
        .layers()
        .iter()
        .position(|l| l.layer_type == "FullyConnected")
        .expect("gpt-2 has a FullyConnected");
    assert!(ChunkCircuit::new(cfg, fc, fc + 1, LayoutParams::default()).is_ok());
    // A convolution whose data operand is a constant has none.
    let bytes =
        std::fs::read(repo().join("../shared/models/zkml/mnist/model.msgpack")).expect("read");
    let mut v: serde_json::Value = rmp_serde::from_slice(&bytes).expect("decode");
    let conv = v["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .position(|l| l["layer_type"] == "Conv2D")
        .expect("a convolution");
    v["layers"][conv]["inp_idxes"][0] = v["layers"][conv]["inp_idxes"][1].clone();
    let bent = json_model(&v, "bent.msgpack");
    let err = ChunkCircuit::fit(bent, conv, conv + 1).expect_err("unsupported");
    assert!(
        err.to_string().contains(&format!(
            "layer {conv} (Conv2D) cannot be proven yet: the data operand is a constant"
        )),
        "{err}"
    );
    // A function lookup needs the function chip, which `fit` adds and a bare layout lacks.
    let (f, _) = functions_model();
    let err = ChunkCircuit::new(f.clone(), 0, 1, LayoutParams::default()).expect_err("no slots");
    assert!(err.to_string().contains("function slots"), "{err}");
    assert!(
        ChunkCircuit::fit(f, 0, 1)
            .expect("tanh fits")
            .layout()
            .fn_slots
            > 0
    );
}

#[test]
fn fitted_layouts_shrink_small_chunks_and_still_prove() {
    let (model, input) = mnist();
    let whole = ChunkCircuit::fit(model.clone(), 0, 16).expect("fit");
    // The tail of MNIST is small: a narrower range table lets its k drop below the whole model's.
    let tail = ChunkCircuit::fit(model.clone(), 5, 16).expect("fit");
    assert!(
        tail.min_k() < whole.min_k(),
        "tail k {} vs whole k {}",
        tail.min_k(),
        whole.min_k()
    );
    assert!(tail.layout().range_bits * tail.layout().range_limbs >= dzk_circuit::MIN_RANGE_BITS);
    let handoff = model
        .forward_range(0, 5, &input)
        .expect("forward")
        .outputs()
        .clone();
    let tail = witness(tail, &handoff);
    assert_eq!(mock(&tail, tail.instances().to_vec()), Ok(()));
    assert_eq!(tail.rows(), tail.rows_laid_out());
}

/// A tiny model with products of activations: Square, Mul, SquaredDifference, then Mean and Sub.
fn products_model() -> (Arc<Model>, TensorFile) {
    let layer = |ty: &str,
                 params: serde_json::Value,
                 ins: &[i64],
                 shapes: serde_json::Value,
                 out: i64,
                 out_shape: serde_json::Value| {
        serde_json::json!({"layer_type": ty, "params": params, "inp_idxes": ins, "inp_shapes": shapes, "out_idxes": [out], "out_shapes": [out_shape], "mask": []})
    };
    let m = serde_json::json!({
        "global_sf": 16, "k": 12, "num_cols": 6, "inp_idxes": [0], "out_idxes": [5],
        "tensors": [],
        "layers": [
            layer("Square", serde_json::json!([]), &[0], serde_json::json!([[1, 2, 4]]), 1, serde_json::json!([1, 2, 4])),
            layer("Mul", serde_json::json!([]), &[0, 1], serde_json::json!([[1, 2, 4], [1, 2, 4]]), 2, serde_json::json!([1, 2, 4])),
            layer("SquaredDifference", serde_json::json!([]), &[2, 0], serde_json::json!([[1, 2, 4], [1, 2, 4]]), 3, serde_json::json!([1, 2, 4])),
            layer("Mean", serde_json::json!([2]), &[3], serde_json::json!([[1, 2, 4]]), 4, serde_json::json!([1, 2, 1])),
            layer("Sub", serde_json::json!([]), &[0, 4], serde_json::json!([[1, 2, 4], [1, 2, 1]]), 5, serde_json::json!([1, 2, 4])),
        ],
    });
    let model = json_model(&m, "products.msgpack");
    let input =
        serde_json::json!([{"idx": 0, "shape": [1, 2, 4], "data": [3, -5, 7, 12, -1, 0, 9, -16]}]);
    (model, json_input(&input))
}

#[test]
fn products_of_activations_and_mean_match_the_forward_pass() {
    let (model, input) = products_model();
    let c = ChunkCircuit::fit(model.clone(), 0, 5).expect("supported");
    let c = witness(c, &input);
    assert_proves_forward(&model, &c, &input, 3);
}

#[test]
fn max_pool_matches_the_forward_pass() {
    // 3×3 windows (9 values: the pairwise tree carries an odd one up every level), stride 1, over 4×4×2.
    let m = serde_json::json!({
        "global_sf": 16, "k": 12, "num_cols": 6, "inp_idxes": [0], "out_idxes": [1], "tensors": [],
        "layers": [{"layer_type": "MaxPool2D", "params": [3, 3, 1, 1], "inp_idxes": [0], "inp_shapes": [[1, 4, 4, 2]],
                    "out_idxes": [1], "out_shapes": [[1, 2, 2, 2]], "mask": []}],
    });
    let model = json_model(&m, "maxpool.msgpack");
    let data: Vec<i64> = (0..32).map(|i| ((i * 37) % 23) - 11).collect();
    let input = serde_json::json!([{"idx": 0, "shape": [1, 4, 4, 2], "data": data}]);
    let input = json_input(&input);
    let c = ChunkCircuit::fit(model.clone(), 0, 1).expect("supported");
    let c = witness(c, &input);
    assert_proves_forward(&model, &c, &input, 2);
}

#[test]
fn wiring_layers_match_the_forward_pass() {
    let l = |ty: &str,
             params: serde_json::Value,
             ins: serde_json::Value,
             shapes: serde_json::Value,
             outs: serde_json::Value,
             out_shapes: serde_json::Value| {
        serde_json::json!({"layer_type": ty, "params": params, "inp_idxes": ins, "inp_shapes": shapes, "out_idxes": outs, "out_shapes": out_shapes, "mask": []})
    };
    use serde_json::json;
    let m = json!({
        "global_sf": 16, "k": 12, "num_cols": 6, "inp_idxes": [0], "out_idxes": [11, 12], "tensors": [
            {"idx": 50, "shape": [1, 3], "data": [7, -8, 9]},
            {"idx": 51, "shape": [], "data": [1]},
        ],
        "layers": [
            // x [2,3] -> Pad -> [3,3] -> Transpose -> [3,3]
            l("Pad", json!([1, 0, 0, 0]), json!([0]), json!([[2, 3]]), json!([1]), json!([[3, 3]])),
            l("Transpose", json!([3, 3, 1, 0]), json!([1]), json!([[3, 3]]), json!([2]), json!([[3, 3]])),
            // Slice rows 1..3 -> [2,3]; Concatenation with a constant row -> [3,3]
            l("Slice", json!([1, 0, 2, -1]), json!([2]), json!([[3, 3]]), json!([3]), json!([[2, 3]])),
            l("Concatenation", json!([0]), json!([3, 50]), json!([[2, 3], [1, 3]]), json!([4]), json!([[3, 3]])),
            // Split into 3 columns (axis 1); Pack two of them; Rotate
            l("Split", json!([1, 3]), json!([51, 4]), json!([[], [3, 3]]), json!([5, 6, 7]), json!([[3, 1], [3, 1], [3, 1]])),
            l("Pack", json!([0]), json!([5, 7]), json!([[3, 1], [3, 1]]), json!([8]), json!([[2, 3, 1]])),
            l("Rotate", json!([1]), json!([8]), json!([[2, 3, 1]]), json!([9]), json!([[2, 3, 1]])),
            // Broadcast and Noop (zero-padding), then ResizeNN on a [1,2,2,1] view.
            l("Broadcast", json!([]), json!([6]), json!([[3, 1]]), json!([10]), json!([[3, 2]])),
            l("Noop", json!([0]), json!([9]), json!([[2, 3, 1]]), json!([11]), json!([[8]])),
            l("Reshape", json!([]), json!([10]), json!([[3, 2]]), json!([13]), json!([[1, 2, 3, 1]])),
            l("ResizeNearestNeighbor", json!([0, 0]), json!([13]), json!([[1, 2, 3, 1]]), json!([12]), json!([[1, 4, 3, 1]])),
        ],
    });
    let model = json_model(&m, "wiring.msgpack");
    let input = json!([{"idx": 0, "shape": [2, 3], "data": [1, -2, 3, -4, 5, -6]}]);
    let input = json_input(&input);
    let n = model.layers().len();
    let c = ChunkCircuit::fit(model.clone(), 0, n).expect("supported");
    let c = witness(c, &input);
    // Noop's zero padding (the last two of output 11) and the constant row both come from fixed cells.
    assert_proves_forward(&model, &c, &input, 7);
    assert_proves_forward(&model, &c, &input, 3);
}

#[test]
fn batch_mat_mul_and_mask_neg_inf_match_the_forward_pass() {
    use serde_json::json;
    let l = |ty: &str,
             params: serde_json::Value,
             ins: serde_json::Value,
             shapes: serde_json::Value,
             out: i64,
             out_shape: serde_json::Value| {
        json!({"layer_type": ty, "params": params, "inp_idxes": ins, "inp_shapes": shapes, "out_idxes": [out], "out_shapes": [out_shape], "mask": []})
    };
    let m = json!({
        "global_sf": 16, "k": 12, "num_cols": 6, "inp_idxes": [0, 1], "out_idxes": [4], "tensors": [],
        "layers": [
            l("BatchMatMul", json!([0, 0]), json!([0, 1]), json!([[2, 2, 3], [2, 3, 2]]), 2, json!([2, 2, 2])),
            l("BatchMatMul", json!([0, 1]), json!([2, 2]), json!([[2, 2, 2], [2, 2, 2]]), 3, json!([2, 2, 2])),
            l("MaskNegInf", json!([2, 2, 2, 0, 1, 1, 0]), json!([3]), json!([[2, 2, 2]]), 4, json!([2, 2, 2])),
        ],
    });
    let model = json_model(&m, "bmm.msgpack");
    let input = json!([
        {"idx": 0, "shape": [2, 2, 3], "data": [3, -5, 7, 12, -1, 0, 9, -16, 2, 4, 8, -3]},
        {"idx": 1, "shape": [2, 3, 2], "data": [16, 0, -8, 4, 2, 32, 1, -1, 5, 7, -9, 3]},
    ]);
    let input = json_input(&input);
    let c = ChunkCircuit::fit(model.clone(), 0, 3).expect("supported");
    let c = witness(c, &input);
    // Index 1 is a masked entry (min_val, a fixed cell); index 0 a computed one.
    assert_proves_forward(&model, &c, &input, 1);
    assert_proves_forward(&model, &c, &input, 0);
}

#[test]
fn div_var_matches_the_forward_pass() {
    use serde_json::json;
    // Twitter-style DivVar: x·sf / d with d an activation (here the output of a Mul by a constant).
    let m = json!({
        "global_sf": 16, "k": 12, "num_cols": 6, "inp_idxes": [0, 1], "out_idxes": [2], "tensors": [],
        "layers": [{"layer_type": "DivVar", "params": [], "inp_idxes": [0, 1], "inp_shapes": [[1, 5], [1]],
                    "out_idxes": [2], "out_shapes": [[1, 5]], "mask": []}],
    });
    let model = json_model(&m, "divvar.msgpack");
    // d = 32 (2.0): x·16/32 = x/2, with exact halves 1.5 → 2 and −1.5 → −1.
    let input = json!([{"idx": 0, "shape": [1, 5], "data": [3, -3, 7, -8, 0]}, {"idx": 1, "shape": [1], "data": [32]}]);
    let input = json_input(&input);
    let c = ChunkCircuit::fit(model.clone(), 0, 1).expect("supported");
    let c = witness(c, &input);
    assert_eq!(c.instances()[2..4], [Fr::from(2), -Fr::from(1)]);
    assert_proves_forward(&model, &c, &input, 0);
    assert_proves_forward(&model, &c, &input, 1);
}

#[test]
fn skip_connections_cross_every_cut_and_the_commitments_chain() {
    use serde_json::json;
    let l = |ty: &str, ins: serde_json::Value, out: i64| {
        json!({"layer_type": ty, "params": [], "inp_idxes": ins, "inp_shapes": [[1, 4], [1, 4]],
               "out_idxes": [out], "out_shapes": [[1, 4]], "mask": []})
    };
    let sq = |i: i64, out: i64| {
        json!({"layer_type": "Square", "params": [], "inp_idxes": [i], "inp_shapes": [[1, 4]],
               "out_idxes": [out], "out_shapes": [[1, 4]], "mask": []})
    };
    // x → x² → x⁴; then x + x⁴ (the model input skips two cuts) and (x + x⁴) − x² (x² skips one).
    let m = json!({
        "global_sf": 16, "k": 12, "num_cols": 6, "inp_idxes": [0], "out_idxes": [4], "tensors": [],
        "layers": [sq(0, 1), sq(1, 2), l("Add", json!([0, 2]), 3), l("Sub", json!([3, 1]), 4)],
    });
    let model = json_model(&m, "skips.msgpack");
    assert_eq!(model.live_at(1), vec![0, 1]);
    assert_eq!(model.live_at(2), vec![0, 1, 2]);
    assert_eq!(model.live_at(3), vec![1, 3]);
    assert_eq!(model.live_at(4), vec![4]);
    let input = json_input(&json!([{"idx": 0, "shape": [1, 4], "data": [20, -33, 7, 64]}]));
    // One chunk per layer; cut c's salt is c + 1, handed from producer to consumer.
    let mut handoff = input.clone();
    let mut prev_out: Option<Fr> = None;
    for i in 0..4 {
        let c = ChunkCircuit::fit(model.clone(), i, i + 1)
            .expect("supported")
            .with_visibility(OUT_PUBLIC)
            .with_inputs(
                &handoff,
                Salts {
                    input: Fr::from(i as u64 + 1),
                    output: Fr::from(i as u64 + 2),
                },
            )
            .expect("witness");
        assert_eq!(mock(&c, c.instances().to_vec()), Ok(()), "chunk {i}");
        assert_eq!(c.rows(), c.rows_laid_out());
        if let Some(h) = prev_out {
            assert_eq!(c.instances()[0], h, "h_in({i}) == h_out({})", i - 1);
        }
        prev_out = Some(c.instances()[1]);
        handoff = c.boundary_outputs().expect("outputs").clone();
    }
    let full = model.forward(&input).expect("forward");
    assert_eq!(&handoff, full.outputs());
}

#[test]
fn wide_boundaries_hash_beside_the_layers() {
    let (model, input) = mnist();
    // Conv0's output (5408 values) is committed: on the shared columns it would push k to 15.
    let shared = ChunkCircuit::new(model.clone(), 0, 1, LayoutParams::default()).expect("chunk");
    let fitted = ChunkCircuit::fit(model.clone(), 0, 1).expect("fit");
    assert!(fitted.layout().hash_lanes > 0, "{:?}", fitted.layout());
    assert!(fitted.min_k() < shared.min_k());
    assert!(fitted.cost_estimate() < shared.cost_estimate());
    let c = witness(fitted, &input);
    assert_eq!(
        c.instances(),
        expected_instances(&model, &c, &input).as_slice()
    );
    assert_eq!(mock(&c, c.instances().to_vec()), Ok(()));
    assert_eq!(c.rows(), c.rows_laid_out());
    let mut wrong = c.instances().to_vec();
    wrong[1] += Fr::from(1);
    assert!(mock(&c, wrong).is_err());
}

/// Every function zkml looks up, softmax with and without a mask, and a lookup of a masked (`min_val`) value.
fn functions_model() -> (Arc<Model>, TensorFile) {
    functions_model_k(12)
}

fn functions_model_k(k: i64) -> (Arc<Model>, TensorFile) {
    use serde_json::json;
    let l = |ty: &str,
             params: serde_json::Value,
             inp: i64,
             shape: serde_json::Value,
             out: i64,
             mask: serde_json::Value| {
        json!({"layer_type": ty, "params": params, "inp_idxes": [inp], "inp_shapes": [shape.clone()],
               "out_idxes": [out], "out_shapes": [shape], "mask": mask})
    };
    let s8 = json!([1, 8]);
    let s6 = json!([1, 6]);
    let s24 = json!([2, 4]);
    let m = json!({
        "global_sf": 16, "k": k, "num_cols": 6, "inp_idxes": [0, 1, 2, 3],
        "out_idxes": [10, 11, 12, 13, 14, 15, 16, 18, 19, 20], "tensors": [],
        "layers": [
            l("Tanh", json!([]), 0, s8.clone(), 10, json!([])),
            l("Logistic", json!([]), 0, s8.clone(), 11, json!([])),
            l("Pow", json!([3]), 3, s8.clone(), 12, json!([])),
            l("Sin", json!([]), 3, s8.clone(), 13, json!([])),
            l("Cos", json!([]), 3, s8.clone(), 14, json!([])),
            // zkml's Rsqrt hack: element 5 becomes max_val, element 4 min_val, before the lookup.
            l("Rsqrt", json!([]), 1, s6.clone(), 15, json!([5, 1, 4, -1])),
            l("Sqrt", json!([]), 1, s6.clone(), 16, json!([])),
            l("MaskNegInf", json!([2, 2, 4, 0, 0, 1, 0, 1, 0, 0, 0]), 2, s24.clone(), 17, json!([])),
            l("Softmax", json!([2, 2, 4, 0, 0, 1, 0, 1, 0, 0, 0]), 17, s24.clone(), 18, json!([])),
            l("Softmax", json!([]), 2, s24.clone(), 19, json!([])),
            l("Tanh", json!([]), 17, s24.clone(), 20, json!([])),
        ],
    });
    let model = json_model(&m, "functions.msgpack");
    let input = json_input(&json!([
        // Saturated ends far beyond zkml's domain (±2^11), the steep middle, and zero.
        {"idx": 0, "shape": [1, 8], "data": [-100000, -40, -9, -1, 0, 5, 33, 3000000]},
        {"idx": 1, "shape": [1, 6], "data": [-7, 0, 1, 64, 123456, 16]},
        {"idx": 2, "shape": [2, 4], "data": [20, -3, 40, 7, -600, 0, 0, 31]},
        // x³ (whose table ends where |x³·sf| passes 2^26), sin and cos (zkml's domain, ±2^(k−1)).
        {"idx": 3, "shape": [1, 8], "data": [-1000, -40, -9, -1, 0, 5, 33, 1000]},
    ]));
    (model, input)
}

#[test]
fn lookups_and_softmax_match_the_forward_pass() {
    let (model, input) = functions_model();
    let c = ChunkCircuit::fit(model.clone(), 0, model.layers().len()).expect("supported");
    assert!(c.layout().fn_slots > 0);
    let c = witness(c, &input);
    let forward = model.forward(&input).expect("forward");
    let out = forward.outputs();
    // The masked Tanh input is min_val, which zkml's table maps to 0 (not −sf).
    assert_eq!(out.get(20).expect("t20").data()[2], 0);
    // Softmax rows sum to about sf, masked entries are 0.
    let sm = out.get(18).expect("t18").data();
    assert_eq!((sm[2], sm[4]), (0, 0));
    // Tamper with a saturated tanh output and a softmax output.
    for tamper in [7, 8 * 5 + 6 * 2 + 8 + 3] {
        assert_proves_forward(&model, &c, &input, tamper);
    }
}

#[test]
fn a_value_outside_a_function_table_is_a_clear_error() {
    let (model, _) = functions_model();
    // x³ of 3·10^6 / 16 is far beyond what any later layer could carry: the table stops well before.
    let input = json_input(&serde_json::json!([
        {"idx": 0, "shape": [1, 8], "data": vec![0; 8]},
        {"idx": 1, "shape": [1, 6], "data": vec![1; 6]},
        {"idx": 2, "shape": [2, 4], "data": vec![0; 8]},
        {"idx": 3, "shape": [1, 8], "data": [0, 0, 0, 0, 0, 0, 0, 3000000]},
    ]));
    let c = ChunkCircuit::fit(model.clone(), 0, 3).expect("supported");
    let err = c
        .with_inputs(&input, salts())
        .expect_err("out of the table");
    assert!(
        err.to_string()
            .contains("layer 2 (Pow): input value 3000000"),
        "{err}"
    );
}

#[test]
fn function_tables_do_not_depend_on_zkml_k() {
    // zkml sizes its tables by its k (2^k rows); dzk's depend on the function and the scale only.
    let (small, big) = (functions_model_k(12).0, functions_model_k(25).0);
    let n = small.layers().len();
    // Sin and cos (layers 3 and 4) keep zkml's domain, as they are not monotone.
    for (start, end) in [(0, 3), (5, 7), (7, n), (0, 1), (2, 3)] {
        let a = ChunkCircuit::fit(small.clone(), start, end).expect("supported");
        let b = ChunkCircuit::fit(big.clone(), start, end).expect("supported");
        assert_eq!(a.min_k(), b.min_k(), "layers {start}..{end}");
        assert!(a.min_k() <= 16, "layers {start}..{end}: k = {}", a.min_k());
    }
}
