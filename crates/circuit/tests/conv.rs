//! Convolutions in every operand form: weights that are activations (a model input here, as a kernel computed
//! by an earlier layer would be), and depthwise convolutions with a channel multiplier, with constant and with
//! activation weights; each proves the forward pass's outputs with and without the matrix-check chip.

use dzk_circuit::{ChunkCircuit, LayoutParams};
use serde_json::json;

mod common;
use common::*;

#[test]
fn activation_kernels_and_depthwise_channel_multipliers_match_the_forward_pass() {
    let dw: Vec<i64> = (0..32).map(|i| (i * 5 % 9) - 4).collect();
    let m = json!({
        "global_sf": 16, "k": 12, "num_cols": 6, "inp_idxes": [0, 10, 11], "out_idxes": [7],
        "tensors": [
            {"idx": 2, "shape": [4], "data": [3, -5, 0, 1]},
            {"idx": 3, "shape": [1, 2, 2, 8], "data": dw},
            {"idx": 4, "shape": [8], "data": [1, 0, -2, 7, 0, 0, 3, -1]},
        ],
        "layers": [
            // A convolution whose kernel [4, 2, 2, 2] is an activation (input 10).
            {"layer_type": "Conv2D", "params": [0, 1, 0, 1, 1], "inp_idxes": [0, 10, 2],
             "inp_shapes": [[1, 6, 6, 2], [4, 2, 2, 2], [4]], "out_idxes": [5], "out_shapes": [[1, 5, 5, 4]],
             "mask": []},
            // Depthwise with channel multiplier 2: 4 input channels, 8 outputs, constant weights.
            {"layer_type": "Conv2D", "params": [1, 1, 0, 1, 1], "inp_idxes": [5, 3, 4],
             "inp_shapes": [[1, 5, 5, 4], [1, 2, 2, 8], [8]], "out_idxes": [6], "out_shapes": [[1, 4, 4, 8]],
             "mask": []},
            // Depthwise whose weights are an activation (input 11), bias a constant.
            {"layer_type": "Conv2D", "params": [1, 1, 1, 1, 1], "inp_idxes": [6, 11, 4],
             "inp_shapes": [[1, 4, 4, 8], [1, 2, 2, 8], [8]], "out_idxes": [7], "out_shapes": [[1, 3, 3, 8]],
             "mask": []},
        ],
    });
    let model = json_model(&m, "convs.msgpack");
    let x: Vec<i64> = (0..72).map(|i| (i * 11 % 37) - 18).collect();
    let k: Vec<i64> = (0..32).map(|i| (i * 7 % 13) - 6).collect();
    let d: Vec<i64> = (0..32).map(|i| (i * 3 % 7) - 3).collect();
    let input = json_input(&json!([
        {"idx": 0, "shape": [1, 6, 6, 2], "data": x},
        {"idx": 10, "shape": [4, 2, 2, 2], "data": k},
        {"idx": 11, "shape": [1, 2, 2, 8], "data": d},
    ]));
    let out = model.forward(&input).expect("forward");
    assert_eq!(out.outputs().tensors().len(), 1);
    for w in [0, 2] {
        let p = LayoutParams {
            check_width: w,
            ..LayoutParams::default()
        };
        let c = ChunkCircuit::new(model.clone(), 0, 3, p).expect("supported");
        // Only the plain convolution can go to the chip; its kernel is an activation.
        assert_eq!(c.activation_products(), c.matrix_checks(), "width {w}");
        assert_eq!(c.matrix_checks(), usize::from(w > 0), "width {w}");
        let c = witness(c, &input);
        assert_proves_forward(&model, &c, &input, 2);
    }
}

#[test]
fn a_depthwise_multiplier_reads_each_input_channel_for_its_outputs() {
    // 1 input channel, multiplier 3, a 1×1 kernel: output o is x·w[o] rescaled, for every o.
    let m = json!({
        "global_sf": 4, "k": 12, "num_cols": 6, "inp_idxes": [0], "out_idxes": [5],
        "tensors": [
            {"idx": 1, "shape": [1, 1, 1, 3], "data": [4, 8, -4]},
            {"idx": 2, "shape": [3], "data": [0, 1, 0]},
        ],
        "layers": [
            {"layer_type": "Conv2D", "params": [1, 1, 0, 1, 1], "inp_idxes": [0, 1, 2],
             "inp_shapes": [[1, 1, 2, 1], [1, 1, 1, 3], [3]], "out_idxes": [5], "out_shapes": [[1, 1, 2, 3]],
             "mask": []},
        ],
    });
    let model = json_model(&m, "multiplier.msgpack");
    let input = json_input(&json!([{"idx": 0, "shape": [1, 1, 2, 1], "data": [3, -5]}]));
    let out = model.forward(&input).expect("forward");
    let (_, t) = &out.outputs().tensors()[0];
    // round(x·w / 4) + b: x = 3 → 3, 6+1, -3; x = -5 → -5, -10+1, 5.
    assert_eq!(t.data(), &[3, 7, -3, -5, -9, 5]);
    let c = witness(
        ChunkCircuit::new(model.clone(), 0, 1, LayoutParams::default()).expect("supported"),
        &input,
    );
    assert_proves_forward(&model, &c, &input, 1);
}
