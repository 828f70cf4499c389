//! One test per zkml layer type: a one-layer model run on small tensors, against values worked out by hand
//! (in the comments), including exact halves and negative values.

use dzk_ir::{IrError, Model, Tensor, TensorFile};

mod common;
use common::{WL, WM};

/// A one-layer test case: inputs are fed through the input file as tensors 0, 1, 2, ...
struct Case<'a> {
    ty: &'a str,
    params: Vec<i64>,
    mask: Vec<i64>,
    sf: i64,
    inputs: Vec<(&'a [usize], Vec<i64>)>,
    outputs: Vec<&'a [usize]>,
    /// Declares input 0 with this shape instead of its real one.
    declare_input0: Option<Vec<i64>>,
}

fn case<'a>(
    ty: &'a str,
    params: &[i64],
    sf: i64,
    inputs: Vec<(&'a [usize], Vec<i64>)>,
    outputs: Vec<&'a [usize]>,
) -> Case<'a> {
    Case {
        ty,
        params: params.to_vec(),
        mask: vec![],
        sf,
        inputs,
        outputs,
        declare_input0: None,
    }
}

fn shape(s: &[usize]) -> Vec<i64> {
    s.iter().map(|&d| d as i64).collect()
}

impl Case<'_> {
    fn try_run(&self) -> Result<Vec<Tensor>, IrError> {
        let n = self.inputs.len() as i64;
        let outs: Vec<i64> = (0..self.outputs.len() as i64).map(|o| 100 + o).collect();
        let wm = WM {
            global_sf: self.sf,
            k: 16,
            num_cols: 10,
            inp_idxes: (0..n).collect(),
            out_idxes: outs.clone(),
            tensors: vec![],
            layers: vec![WL {
                layer_type: self.ty.into(),
                params: self.params.clone(),
                inp_idxes: (0..n).collect(),
                inp_shapes: self
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(i, (s, _))| {
                        if i == 0 {
                            self.declare_input0.clone().unwrap_or_else(|| shape(s))
                        } else {
                            shape(s)
                        }
                    })
                    .collect(),
                out_idxes: outs,
                out_shapes: self.outputs.iter().map(|s| shape(s)).collect(),
                mask: self.mask.clone(),
            }],
        };
        let bytes = rmp_serde::to_vec_named(&wm).expect("encode model");
        let model = Model::from_msgpack(&bytes, "case.msgpack")?;
        let input = TensorFile::new(
            self.inputs
                .iter()
                .enumerate()
                .map(|(i, (s, d))| {
                    (
                        i as i64,
                        Tensor::new(s.to_vec(), d.clone()).expect("input tensor"),
                    )
                })
                .collect(),
        )
        .expect("input file");
        let trace = model.forward(&input)?;
        Ok(trace
            .outputs()
            .tensors()
            .iter()
            .map(|(_, t)| t.clone())
            .collect())
    }

    /// The values of the single output.
    fn run(&self) -> Vec<i64> {
        let outs = self
            .try_run()
            .unwrap_or_else(|e| panic!("{}: {e}", self.ty));
        assert_eq!(outs.len(), 1);
        outs[0].data().to_vec()
    }
}

#[test]
fn conv2d_valid_rounds_half_up_then_adds_bias() {
    // 1x1 conv, weight 1 (= 0.25 at sf 4): acc/4 = 0.5, -0.5, 1.5, -1.5 -> 1, 0, 2, -1; then + bias 3.
    let c = |act: i64, bias: i64| {
        case(
            "Conv2D",
            &[0, 1, act, 1, 1],
            4,
            vec![
                (&[1, 2, 2, 1], vec![2, -2, 6, -6]),
                (&[1, 1, 1, 1], vec![1]),
                (&[1], vec![bias]),
            ],
            vec![&[1, 2, 2, 1]],
        )
        .run()
    };
    assert_eq!(c(0, 3), vec![4, 3, 5, 2]);
    // ReLU6 clamps at 6*sf = 24: 1+23, 0+23, 2+23, -1+23 -> 24, 23, 24 (25 clamped), 22.
    assert_eq!(c(3, 23), vec![24, 23, 24, 22]);
    // ReLU: 1-1, 0-1, 2-1, -1-1 -> 0, 0, 1, 0 (negative inputs give exactly zero).
    assert_eq!(c(1, -1), vec![0, 0, 1, 0]);
}

#[test]
fn conv2d_same_padding_and_stride() {
    // All-ones 3x3 input, 3x3 kernel of 1.0 (4 at sf 4): each output counts the in-bounds window cells.
    let ones = vec![1; 9];
    let out = case(
        "Conv2D",
        &[0, 0, 0, 1, 1],
        4,
        vec![(&[1, 3, 3, 1], ones), (&[1, 3, 3, 1], vec![4; 9])],
        vec![&[1, 3, 3, 1]],
    )
    .run();
    assert_eq!(out, vec![4, 6, 4, 6, 9, 6, 4, 6, 4]);
    // 4x4 input, stride 2: zkml pads (0, 1) on each axis, so the windows cover 9, 6, 6 and 4 cells.
    let out = case(
        "Conv2D",
        &[0, 0, 0, 2, 2],
        4,
        vec![(&[1, 4, 4, 1], vec![1; 16]), (&[1, 3, 3, 1], vec![4; 9])],
        vec![&[1, 2, 2, 1]],
    )
    .run();
    assert_eq!(out, vec![9, 6, 6, 4]);
}

#[test]
fn conv2d_multi_channel_ohwi() {
    // Input 1x1 with 2 channels (3, 5); two output filters [1,1,1,2] OHWI: (4, 0) and (4, 4) at sf 4.
    let out = case(
        "Conv2D",
        &[0, 1, 0, 1, 1],
        4,
        vec![
            (&[1, 1, 1, 2], vec![3, 5]),
            (&[2, 1, 1, 2], vec![4, 0, 4, 4]),
        ],
        vec![&[1, 1, 1, 2]],
    )
    .run();
    assert_eq!(out, vec![3, 8]);
}

#[test]
fn conv2d_depthwise() {
    // Two pixels (c0, c1) = (1, 2), (3, 4); 1x2 kernel per channel: c0 (4, 4), c1 (8, 0); sf 4.
    // c0: (1*4 + 3*4)/4 = 4, c1: (2*8 + 4*0)/4 = 4; bias (1, 2) -> 5, 6.
    let out = case(
        "Conv2D",
        &[1, 1, 0, 1, 1],
        4,
        vec![
            (&[1, 1, 2, 2], vec![1, 2, 3, 4]),
            (&[1, 1, 2, 2], vec![4, 8, 4, 0]),
            (&[2], vec![1, 2]),
        ],
        vec![&[1, 1, 1, 2]],
    )
    .run();
    assert_eq!(out, vec![5, 6]);
}

#[test]
fn fully_connected_rescales_then_adds_bias_then_relu() {
    // x = [[1,2,3],[-1,-2,-3]], W = [[2,0,0],[2,2,2]] (rows are outputs), sf 4.
    // x·Wᵀ = [[2, 12], [-2, -12]] -> /4 -> [[0.5→1, 3], [-0.5→0, -3]]; + bias [1, -5] -> [[2, -2], [1, -8]].
    let ins = |x: &'static [usize]| {
        vec![
            (x, vec![1, 2, 3, -1, -2, -3]),
            (&[2usize, 3][..], vec![2, 0, 0, 2, 2, 2]),
            (&[2usize][..], vec![1, -5]),
        ]
    };
    assert_eq!(
        case("FullyConnected", &[0], 4, ins(&[2, 3]), vec![&[2, 2]]).run(),
        vec![2, -2, 1, -8]
    );
    assert_eq!(
        case("FullyConnected", &[1], 4, ins(&[2, 3]), vec![&[2, 2]]).run(),
        vec![2, 0, 1, 0]
    );
    // A rank-3 input uses batch 0, as zkml does.
    assert_eq!(
        case("FullyConnected", &[0], 4, ins(&[1, 2, 3]), vec![&[2, 2]]).run(),
        vec![2, -2, 1, -8]
    );
}

#[test]
fn batch_mat_mul_plain_and_adjoint() {
    // a = [[1,2],[3,4]], b = [[4,4],[0,0]], sf 4. a·b/4 = [[1,1],[3,3]]; a·bᵀ/4 = [[3,0],[7,0]].
    let ins = || {
        vec![
            (&[1usize, 2, 2][..], vec![1, 2, 3, 4]),
            (&[1usize, 2, 2][..], vec![4, 4, 0, 0]),
        ]
    };
    assert_eq!(
        case("BatchMatMul", &[0, 0], 4, ins(), vec![&[1, 2, 2]]).run(),
        vec![1, 1, 3, 3]
    );
    assert_eq!(
        case("BatchMatMul", &[0, 1], 4, ins(), vec![&[1, 2, 2]]).run(),
        vec![3, 0, 7, 0]
    );
}

#[test]
fn add_sub_with_broadcast_and_relu() {
    let add = |act| {
        case(
            "Add",
            &[act],
            4,
            vec![(&[1, 3], vec![2, -5, 7]), (&[1], vec![-3])],
            vec![&[1, 3]],
        )
        .run()
    };
    assert_eq!(add(0), vec![-1, -8, 4]);
    assert_eq!(add(1), vec![0, 0, 4]);
    let sub = case(
        "Sub",
        &[],
        4,
        vec![(&[2, 2], vec![1, 2, 3, 4]), (&[2], vec![1, 0])],
        vec![&[2, 2]],
    )
    .run();
    assert_eq!(sub, vec![0, 2, 2, 4]);
    // A scalar (shape []) broadcasts too; zkml files use it for epsilons.
    let scalar = case(
        "Sub",
        &[],
        4,
        vec![(&[2], vec![1, 2]), (&[], vec![5])],
        vec![&[2]],
    )
    .run();
    assert_eq!(scalar, vec![-4, -3]);
}

#[test]
fn mul_div_divvar_square_squared_difference() {
    // Mul: products 2, -2, 6, -6 at sf² -> /4 -> 0.5→1, -0.5→0, 1.5→2, -1.5→-1.
    assert_eq!(
        case(
            "Mul",
            &[],
            4,
            vec![(&[4], vec![2, -2, 6, -6]), (&[1], vec![1])],
            vec![&[4]]
        )
        .run(),
        vec![1, 0, 2, -1]
    );
    // Div by the constant 4: 0.5→1, -0.5→0, 1.5→2, -1.5→-1, 1.25→1.
    assert_eq!(
        case(
            "Div",
            &[4],
            4,
            vec![(&[5], vec![2, -2, 6, -6, 5])],
            vec![&[5]]
        )
        .run(),
        vec![1, 0, 2, -1, 1]
    );
    // DivVar: x·sf / d with d = 8: 12/8 = 1.5→2, -12/8 = -1.5→-1.
    assert_eq!(
        case(
            "DivVar",
            &[],
            4,
            vec![(&[2], vec![3, -3]), (&[1], vec![8])],
            vec![&[2]]
        )
        .run(),
        vec![2, -1]
    );
    // Square: x²/4: 4/4 = 1, 9/4 = 2.25→2, 1/4 = 0.25→0, 36/4 = 9.
    assert_eq!(
        case(
            "Square",
            &[],
            4,
            vec![(&[4], vec![2, -3, 1, -6])],
            vec![&[4]]
        )
        .run(),
        vec![1, 2, 0, 9]
    );
    // SquaredDifference: (5-3)²/4 = 1, (1-3)²/4 = 1, (0-3)²/4 = 2.25→2.
    assert_eq!(
        case(
            "SquaredDifference",
            &[],
            4,
            vec![(&[3], vec![5, 1, 0]), (&[1], vec![3])],
            vec![&[3]]
        )
        .run(),
        vec![1, 1, 2]
    );
}

#[test]
fn pooling_and_mean() {
    // Channel 0: 1,2,3,4 (sum 10, /4 = 2.5→3, max 4); channel 1: -1,-1,-1,1 (sum -2, /4 = -0.5→0, max 1).
    let ins = || vec![(&[1usize, 2, 2, 2][..], vec![1, -1, 2, -1, 3, -1, 4, 1])];
    assert_eq!(
        case(
            "AveragePool2D",
            &[2, 2, 2, 2],
            4,
            ins(),
            vec![&[1, 1, 1, 2]]
        )
        .run(),
        vec![3, 0]
    );
    assert_eq!(
        case("MaxPool2D", &[2, 2, 2, 2], 4, ins(), vec![&[1, 1, 1, 2]]).run(),
        vec![4, 1]
    );
    // Mean over axis 2 of [1,2,3]: rows (1,2,2) -> 5/3→2 and (-1,-2,-2) -> -5/3→-2.
    let mean = case(
        "Mean",
        &[2],
        4,
        vec![(&[1, 2, 3], vec![1, 2, 2, -1, -2, -2])],
        vec![&[1, 2, 1]],
    )
    .run();
    assert_eq!(mean, vec![2, -2]);
}

#[test]
fn softmax_with_and_without_mask() {
    // sf 4: exp table at scale 16. [0, 0] -> e = 16, 16; S = 32; S' = 8; y = 2, 2 (0.5 each).
    assert_eq!(
        case(
            "Softmax",
            &[],
            4,
            vec![(&[1, 2], vec![0, 0])],
            vec![&[1, 2]]
        )
        .run(),
        vec![2, 2]
    );
    // [4, 0] (1.0, 0.0): e = 16, round(e^-1·16) = 6; S = 22; S' = round(5.5) = 6; y = round(16/6) = 3, 1.
    assert_eq!(
        case(
            "Softmax",
            &[],
            4,
            vec![(&[1, 2], vec![4, 0])],
            vec![&[1, 2]]
        )
        .run(),
        vec![3, 1]
    );
    // A masked third entry is left out of the max and the sum, and outputs 0.
    let mut c = case(
        "Softmax",
        &[2, 1, 3, 0, 0, 1],
        4,
        vec![(&[1, 3], vec![4, 0, 100])],
        vec![&[1, 3]],
    );
    assert_eq!(c.run(), vec![3, 1, 0]);
    // Entirely masked rows have no softmax: an error, not a made-up value.
    c.params = vec![2, 1, 3, 1, 1, 1];
    assert!(matches!(c.try_run(), Err(IrError::Eval { .. })));
}

#[test]
fn mask_neg_inf_uses_min_val() {
    // k = 16: min_val = -2^15.
    let out = case(
        "MaskNegInf",
        &[2, 1, 3, 0, 1, 0],
        4,
        vec![(&[1, 3], vec![5, 6, 7])],
        vec![&[1, 3]],
    )
    .run();
    assert_eq!(out, vec![5, -32768, 7]);
}

#[test]
fn lookup_functions() {
    let f = |ty: &str, xs: Vec<i64>| {
        case(
            ty,
            &[],
            4,
            vec![(&[xs.len()][..], xs.clone())],
            vec![&[xs.len()]],
        )
        .run()
    };
    // σ(0)·4 = 2, σ(1)·4 = 2.92→3, σ(-1)·4 = 1.08→1.
    assert_eq!(f("Logistic", vec![0, 4, -4]), vec![2, 3, 1]);
    // tanh(±1)·4 = ±3.05→±3; tanh at min_val (-2^15) is table entry 0, forced to 0.
    assert_eq!(f("Tanh", vec![4, -4, -32768]), vec![3, -3, 0]);
    // √4·4 = 8, √0.25·4 = 2, √(-1) is NaN → 0.
    assert_eq!(f("Sqrt", vec![16, 1, -4]), vec![8, 2, 0]);
    // 4/√4 = 2, 4/√0.25 = 8.
    assert_eq!(f("Rsqrt", vec![16, 1]), vec![2, 8]);
    // 2³·4 = 32, (-0.5)³·4 = -0.5 → -1 (rounds away from zero, as f64::round), 0.5³·4 = 0.5 → 1.
    assert_eq!(f("Pow", vec![8, -2, 2]), vec![32, -1, 1]);
    // sin(1)·4 = 3.37→3, cos(0)·4 = 4, cos(1)·4 = 2.16→2.
    assert_eq!(f("Sin", vec![0, 4]), vec![0, 3]);
    assert_eq!(f("Cos", vec![0, 4]), vec![4, 2]);
    // dzk's Exp, at scale sf² = 16: e^0·16 = 16, e^1·16 = 43.49→43, e^-1·16 = 5.89→6.
    assert_eq!(f("Exp", vec![0, 4, -4]), vec![16, 43, 6]);
}

#[test]
fn rsqrt_mask_replaces_with_max_val() {
    // Index 1 is replaced by max_val = 2^15 - 10 = 32758 (8189.5 real): 4/√8189.5 = 0.044 → 0.
    let mut c = case("Rsqrt", &[], 4, vec![(&[2], vec![16, 1])], vec![&[2]]);
    c.mask = vec![1, 1];
    assert_eq!(c.run(), vec![2, 0]);
}

#[test]
fn shape_layers() {
    let six = || vec![1, 2, 3, 4, 5, 6];
    assert_eq!(
        case("Reshape", &[], 4, vec![(&[2, 3], six())], vec![&[3, 2]]).run(),
        six()
    );
    assert_eq!(
        case(
            "Transpose",
            &[2, 3, 1, 0],
            4,
            vec![(&[2, 3], six())],
            vec![&[3, 2]]
        )
        .run(),
        vec![1, 4, 2, 5, 3, 6]
    );
    assert_eq!(
        case("Permute", &[1, 0], 4, vec![(&[2, 3], six())], vec![&[3, 2]]).run(),
        vec![1, 4, 2, 5, 3, 6]
    );
    let cat = |axis| {
        case(
            "Concatenation",
            &[axis],
            4,
            vec![(&[2, 1], vec![1, 2]), (&[2, 2], vec![3, 4, 5, 6])],
            vec![&[2, 3]],
        )
        .run()
    };
    assert_eq!(cat(1), vec![1, 3, 4, 2, 5, 6]);
    assert_eq!(cat(-1), vec![1, 3, 4, 2, 5, 6]);
    let pack = |axis| {
        case(
            "Pack",
            &[axis],
            4,
            vec![(&[2], vec![1, 2]), (&[2], vec![3, 4])],
            vec![&[2, 2]],
        )
        .run()
    };
    assert_eq!(pack(0), vec![1, 2, 3, 4]);
    assert_eq!(pack(1), vec![1, 3, 2, 4]);
    let split = case(
        "Split",
        &[1, 2],
        4,
        vec![(&[], vec![1]), (&[2, 4], (1..=8).collect())],
        vec![&[2, 2], &[2, 2]],
    );
    let parts = split.try_run().expect("split");
    assert_eq!(parts[0].data(), &[1, 2, 5, 6]);
    assert_eq!(parts[1].data(), &[3, 4, 7, 8]);
    assert_eq!(
        case(
            "Slice",
            &[0, 1, 2, -1],
            4,
            vec![(&[2, 3], six())],
            vec![&[2, 2]]
        )
        .run(),
        vec![2, 3, 5, 6]
    );
    assert_eq!(
        case(
            "Pad",
            &[0, 0, 1, 0],
            4,
            vec![(&[1, 2], vec![7, 8])],
            vec![&[1, 3]]
        )
        .run(),
        vec![0, 7, 8]
    );
    assert_eq!(
        case(
            "Broadcast",
            &[],
            4,
            vec![(&[3], vec![1, 2, 3])],
            vec![&[2, 3]]
        )
        .run(),
        vec![1, 2, 3, 1, 2, 3]
    );
    assert_eq!(
        case(
            "Rotate",
            &[1],
            4,
            vec![(&[2, 2], vec![1, 2, 3, 4])],
            vec![&[2, 2]]
        )
        .run(),
        vec![2, 1, 4, 3]
    );
    let resized = case(
        "ResizeNearestNeighbor",
        &[0, 0],
        4,
        vec![(&[1, 2, 2, 1], vec![1, 2, 3, 4])],
        vec![&[1, 4, 4, 1]],
    )
    .run();
    assert_eq!(
        resized,
        vec![1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]
    );
}

#[test]
fn noop_truncates_or_zero_pads_like_zkml() {
    let six: Vec<i64> = (1..=6).collect();
    assert_eq!(
        case("Noop", &[0], 4, vec![(&[2, 3], six.clone())], vec![&[4]]).run(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        case("Noop", &[0], 4, vec![(&[2, 3], six)], vec![&[8]]).run(),
        vec![1, 2, 3, 4, 5, 6, 0, 0]
    );
}

#[test]
fn runtime_errors_name_the_layer() {
    let err = case(
        "DivVar",
        &[],
        4,
        vec![(&[1], vec![3]), (&[1], vec![0])],
        vec![&[1]],
    )
    .try_run()
    .expect_err("zero divisor");
    assert!(err.to_string().contains("layer 0 (DivVar)"), "{err}");
    // The declared output shape must match what the layer computes.
    let err = case(
        "Add",
        &[0],
        4,
        vec![(&[2], vec![1, 2]), (&[2], vec![1, 2])],
        vec![&[3]],
    )
    .try_run()
    .expect_err("shape");
    assert!(err.to_string().contains("declares"), "{err}");
    // The declared input shape must match the tensor.
    let mut c = case("Square", &[], 4, vec![(&[2], vec![1, 2])], vec![&[2]]);
    c.declare_input0 = Some(vec![3]);
    let err = c.try_run().expect_err("declared input shape");
    assert!(
        err.to_string().contains("input 0 (tensor 0) has shape [2]"),
        "{err}"
    );
}

#[test]
fn wiring_layers_move_payloads_exactly_as_the_forward_pass_moves_values() {
    // Pad then Transpose, applied to ids 1..=4 instead of values: the result says where each value goes.
    let mut c = case(
        "Pad",
        &[0, 0, 1, 0],
        4,
        vec![(&[2, 2], vec![10, 20, 30, 40])],
        vec![&[2, 3]],
    );
    let values = c.run();
    assert_eq!(values, vec![0, 10, 20, 0, 30, 40]);
    c.inputs[0].1 = vec![1, 2, 3, 4];
    let ids = c.run();
    assert_eq!(ids, vec![0, 1, 2, 0, 3, 4]); // 0 = a zero the padding filled in
    assert!(dzk_ir::Op::Pad { pads: vec![] }.is_wiring());
    assert!(!dzk_ir::Op::Mul.is_wiring());
}
