//! Constant folding: layers that read only constants become constants, and the forward pass does not change.

mod common;
use common::{WL, WM, WT};
use dzk_ir::{Model, Tensor, TensorFile};

fn layer(ty: &str, params: &[i64], ins: &[i64], out: i64) -> WL {
    WL {
        layer_type: ty.into(),
        params: params.to_vec(),
        inp_idxes: ins.to_vec(),
        inp_shapes: ins.iter().map(|_| vec![2]).collect(),
        out_idxes: vec![out],
        out_shapes: vec![vec![2]],
        mask: vec![],
    }
}

fn constant(idx: i64, data: [i64; 2]) -> WT {
    WT {
        idx,
        shape: vec![2],
        data: data.to_vec(),
    }
}

/// Input 0; constants 10, 11, 12. Layers 0 and 2 read only constants (2 reads layer 0's output); 1 and 3 read
/// the input's descendants; `extra` adds a constant-only layer whose output is the model's second output.
fn model(extra: bool) -> Vec<u8> {
    let mut layers = vec![
        layer("Add", &[0], &[10, 11], 20),
        layer("Mul", &[], &[0, 20], 21),
        layer("Sub", &[], &[20, 12], 22),
        layer("Add", &[0], &[21, 22], 23),
    ];
    let mut outs = vec![23];
    if extra {
        layers.push(layer("Add", &[0], &[10, 12], 24));
        outs.push(24);
    }
    let wm = WM {
        global_sf: 4,
        k: 16,
        num_cols: 10,
        inp_idxes: vec![0],
        out_idxes: outs,
        tensors: vec![
            constant(10, [1, -2]),
            constant(11, [3, 4]),
            constant(12, [5, -6]),
        ],
        layers,
    };
    rmp_serde::to_vec_named(&wm).expect("encode")
}

fn outputs(m: &Model, x: [i64; 2]) -> Vec<Vec<i64>> {
    let input = TensorFile::new(vec![(0, Tensor::new(vec![2], x.to_vec()).expect("tensor"))])
        .expect("file");
    m.forward(&input)
        .expect("forward")
        .outputs()
        .tensors()
        .iter()
        .map(|(_, t)| t.data().to_vec())
        .collect()
}

#[test]
fn constant_layers_fold_and_the_forward_pass_is_unchanged() {
    for extra in [false, true] {
        let bytes = model(extra);
        let original = Model::from_msgpack(&bytes, "m.msgpack").expect("load");
        assert!(original.has_foldable_layers());
        let folded = Model::fold_constants_file(&bytes, "m.msgpack").expect("fold");
        // Layer 2 reads layer 0's folded output; a layer writing a model output is kept.
        assert_eq!(folded.layers, vec![0, 2], "extra {extra}");
        let m = Model::from_msgpack(&folded.bytes, "m.msgpack").expect("load folded");
        assert_eq!(m.layers().len(), original.layers().len() - 2);
        // The folded outputs the kept layers read are constants with the values the forward pass computed.
        assert_eq!(
            m.tensors()[&20].data.as_ref().expect("values").data(),
            &[4, 2]
        );
        assert_eq!(
            m.tensors()[&22].data.as_ref().expect("values").data(),
            &[-1, 8]
        );
        for x in [[0, 0], [7, -3], [-1000, 999], [5, 6]] {
            assert_eq!(outputs(&m, x), outputs(&original, x), "input {x:?}");
        }
        // Folding again folds nothing and returns the file as it is.
        assert!(!m.has_foldable_layers());
        let again = Model::fold_constants_file(&folded.bytes, "m.msgpack").expect("fold");
        assert!(again.layers.is_empty());
        assert_eq!(again.bytes, folded.bytes);
    }
}

/// A reshape whose shape operand is computed from an activation (zkml's exports of CLIP and GPT-2 keep the first
/// values of an activation with a `Noop` and read them as the shape): the layers computing it reach no output,
/// so folding leaves them out, the reshape reads a constant holding its declared shape, and the forward pass does
/// not change. A `Noop`'s passed operand still counts; a layer nothing reads at all stays (and what it reads).
#[test]
fn layers_whose_values_reach_no_output_are_left_out() {
    let with_shapes = |ins: &[i64], shapes: Vec<Vec<i64>>, out_shape: Vec<i64>, mut l: WL| {
        l.inp_idxes = ins.to_vec();
        l.inp_shapes = shapes;
        l.out_shapes = vec![out_shape];
        l
    };
    let layers = vec![
        layer("Mul", &[], &[0, 0], 20),
        // The "shape": the first value of 20, then passed on by a Noop that ignores its second operand.
        with_shapes(
            &[20],
            vec![vec![2]],
            vec![1],
            layer("Noop", &[0], &[20], 21),
        ),
        with_shapes(
            &[21, 20],
            vec![vec![1], vec![2]],
            vec![1],
            layer("Noop", &[0], &[21, 20], 22),
        ),
        with_shapes(
            &[20, 22],
            vec![vec![2], vec![1]],
            vec![2],
            layer("Reshape", &[], &[20, 22], 23),
        ),
        // A Noop whose passed operand is needed: kept.
        with_shapes(
            &[23, 21],
            vec![vec![2], vec![1]],
            vec![2],
            layer("Noop", &[0], &[23, 21], 24),
        ),
        layer("Add", &[0], &[24, 10], 25),
        // Read by nothing: kept.
        layer("Sub", &[], &[25, 11], 26),
    ];
    let wm = WM {
        global_sf: 4,
        k: 16,
        num_cols: 10,
        inp_idxes: vec![0],
        out_idxes: vec![25],
        tensors: vec![constant(10, [1, -2]), constant(11, [3, 4])],
        layers,
    };
    let bytes = rmp_serde::to_vec_named(&wm).expect("encode");
    let original = Model::from_msgpack(&bytes, "m.msgpack").expect("load");
    assert!(original.has_foldable_layers());
    let folded = Model::fold_constants_file(&bytes, "m.msgpack").expect("fold");
    assert_eq!(folded.unused, vec![1, 2]);
    assert_eq!(folded.layers, vec![1, 2]);
    let m = Model::from_msgpack(&folded.bytes, "m.msgpack").expect("load folded");
    let types: Vec<&str> = m.layers().iter().map(|l| l.layer_type.as_str()).collect();
    assert_eq!(types, vec!["Mul", "Reshape", "Noop", "Add", "Sub"]);
    // The reshape's shape and the kept Noop's ignored operand are constants now.
    let shape = m.layers()[1].inputs[1];
    assert_eq!(
        m.tensors()[&shape].data.as_ref().expect("values").data(),
        &[2]
    );
    let ignored = m.layers()[2].inputs[1];
    assert_eq!(
        m.tensors()[&ignored].data.as_ref().expect("values").data(),
        &[0]
    );
    for x in [[0, 0], [7, -3], [-100, 99], [5, 6]] {
        assert_eq!(outputs(&m, x), outputs(&original, x), "input {x:?}");
    }
    // Nothing is left to take out.
    assert!(!m.has_foldable_layers());
}
