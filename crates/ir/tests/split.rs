//! Splitting a layer across chunks: the split model computes exactly what the original does.

use std::path::PathBuf;

use dzk_ir::{Model, SplitAt, TensorFile};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn outputs(m: &Model, input: &TensorFile) -> Vec<(i64, Vec<i64>)> {
    m.forward(input)
        .expect("forward")
        .outputs()
        .tensors()
        .iter()
        .map(|(i, t)| (*i, t.data().to_vec()))
        .collect()
}

fn check_model(model_path: PathBuf, input_path: PathBuf) {
    let bytes = std::fs::read(&model_path).expect("model");
    let model = Model::from_msgpack(&bytes, "m.msgpack").expect("load");
    let input = TensorFile::load(&input_path).expect("input");
    let want = outputs(&model, &input);
    let splittable: Vec<(usize, usize)> = (0..model.layers().len())
        .filter_map(|l| model.split_limit(l).ok().map(|n| (l, n)))
        .collect();
    assert!(splittable.len() >= 2, "{}", model_path.display());
    // Each layer alone, into 2 parts, into an uneven 3, and into one part per channel.
    for &(l, limit) in &splittable {
        for parts in [2, 3.min(limit), limit] {
            let split =
                Model::split_layers_file(&bytes, "m.msgpack", &[(l, parts)]).expect("split");
            let m = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
            assert_eq!(split.sections.len(), 1);
            let sec = split.sections[0];
            // A split by output channels is one layer per part; by rows a slice of each operand that varies
            // along the axis and is not a constant (a constant's share is a new constant), and the layer.
            let sliced_operands = m.layers()[sec.start..sec.start + sec.len]
                .iter()
                .filter(|x| x.layer_type == "Slice")
                .count();
            assert_eq!(
                sec.len,
                1 + sliced_operands,
                "layer {l} ({})",
                model.layers()[l].layer_type
            );
            if model.splits_by_rows(l) {
                assert!(sliced_operands >= 1 || model.layers()[l].inputs.len() > 1);
            } else {
                assert_eq!(sec.len, 1);
            }
            assert_eq!(sec.sliced, model.splits_by_rows(l));
            assert_eq!(m.layers().len(), model.layers().len() + parts * sec.len);
            assert_eq!(sec.start, l);
            assert_eq!(
                m.layers()[split.sections[0].join()].layer_type,
                "Concatenation"
            );
            assert_eq!(outputs(&m, &input), want, "layer {l} in {parts} parts");
        }
    }
    // Each layer with the layers after it that act channel by channel (or row by row), carried by every part.
    for &(l, limit) in &splittable {
        let tail = model.split_tail(l);
        if tail == 0 {
            continue;
        }
        let by_rows = model.splits_by_rows(l);
        for parts in [2, limit] {
            let at = [SplitAt {
                layer: l,
                parts,
                tail,
            }];
            let split =
                Model::split_layers_with_tails(&bytes, "m.msgpack", &at).expect("split with tail");
            let m = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
            let sec = split.sections[0];
            // By rows, each carried layer is preceded by the slices of its other operands that vary.
            let slices = m.layers()[sec.start..sec.start + sec.len]
                .iter()
                .filter(|x| x.layer_type == "Slice")
                .count();
            if !by_rows {
                assert_eq!(slices, 0);
            }
            assert_eq!(
                (sec.start, sec.parts, sec.len, sec.tail),
                (l, parts, 1 + tail + slices, tail)
            );
            assert_eq!(sec.original_layers(), 1 + tail);
            assert_eq!(
                m.layers().len(),
                model.layers().len() + parts * sec.len - tail
            );
            assert_eq!(m.layers()[sec.join()].layer_type, "Concatenation");
            assert_eq!(
                m.layers()[sec.join()].outputs,
                model.layers()[l + tail].outputs,
                "the join writes the last tail layer's tensor"
            );
            assert_eq!(
                outputs(&m, &input),
                want,
                "layer {l} and {tail} after it in {parts} parts"
            );
        }
        // More than the tail is refused.
        let at = [SplitAt {
            layer: l,
            parts: 2,
            tail: tail + 1,
        }];
        let e = Model::split_layers_with_tails(&bytes, "m.msgpack", &at).expect_err("refused");
        let how = match by_rows {
            true => "row by row",
            false => "channel by channel",
        };
        assert!(e.to_string().contains(how), "{e}");
    }
    // Every splittable layer at once: sections in order, indices shifted by the parts before them.
    let all: Vec<(usize, usize)> = splittable.iter().map(|&(l, _)| (l, 2)).collect();
    let split = Model::split_layers_file(&bytes, "m.msgpack", &all).expect("split all");
    let m = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
    let mut shift = 0;
    for (i, s) in split.sections.iter().enumerate() {
        assert_eq!(s.start, all[i].0 + shift);
        shift += s.parts * s.len + 1 - s.original_layers();
    }
    assert_eq!(outputs(&m, &input), want);
}

#[test]
fn split_convolutions_fully_connected_layers_and_softmaxes_compute_what_the_original_does() {
    check_model(
        repo().join("../shared/models/zkml/mnist/model.msgpack"),
        repo().join("../shared/models/zkml/mnist/inp.msgpack"),
    );
    check_model(
        repo().join("testdata/models/digits_cnn.msgpack"),
        repo().join("testdata/inputs/digits_3.msgpack"),
    );
    check_model(
        repo().join("testdata/models/tiny_transformer.msgpack"),
        repo().join("testdata/inputs/tiny_transformer.msgpack"),
    );
}

/// A run after a split layer may branch and meet again: the tiny transformer's MLP (zkml's GPT-2 form) is a
/// fully connected layer, a reshape that keeps the last axis, then GELU as products of activations with
/// themselves and with constants, a tanh table and sums, reading the reshaped output three times. Its parts
/// carry all of it; the first layer after the run (the next fully connected layer) reads every channel.
#[test]
fn a_part_carries_a_run_that_branches_and_meets_again() {
    let bytes =
        std::fs::read(repo().join("testdata/models/tiny_transformer.msgpack")).expect("model");
    let model = Model::from_msgpack(&bytes, "m.msgpack").expect("load");
    assert_eq!(model.layers()[44].layer_type, "FullyConnected");
    assert_eq!(model.layers()[55].layer_type, "FullyConnected");
    assert_eq!(model.channel_tail(44), 10, "layers 45..=54");
    // The projections of attention: each is followed by a reshape read by a matrix product of two activations.
    assert_eq!(model.channel_tail(19), 1);
    // The output projection's reshape feeds the residual sum with the block's input, which is not a constant:
    // the sum is not carried.
    assert_eq!(model.layers()[33].layer_type, "Add");
    assert_eq!(model.channel_tail(31), 1);
}

#[test]
fn the_layers_a_part_can_carry_are_those_that_act_channel_by_channel() {
    let bytes =
        std::fs::read(repo().join("../shared/models/zkml/mnist/model.msgpack")).expect("model");
    let model = Model::from_msgpack(&bytes, "m.msgpack").expect("load");
    // conv → average pool → per-channel Mul → per-channel Add, twice; then conv → Mul → Add; the last convs
    // feed a convolution (which reads every channel) or are the model's output.
    let tails: Vec<usize> = [0, 4, 8, 11, 14, 15]
        .iter()
        .map(|&l| model.channel_tail(l))
        .collect();
    assert_eq!(tails, vec![3, 3, 2, 2, 0, 0]);
}

#[test]
fn layers_that_cannot_be_split_are_refused_with_the_reason() {
    let bytes = std::fs::read(repo().join("testdata/models/digits_cnn.msgpack")).expect("model");
    let model = Model::from_msgpack(&bytes, "m.msgpack").expect("load");
    let (first_fixed, limit) = (0..model.layers().len())
        .find_map(|l| model.split_limit(l).ok().map(|n| (l, n)))
        .expect("a splittable layer");
    let other = (0..model.layers().len())
        .find(|&l| model.split_limit(l).is_err())
        .expect("a layer that is not split");
    for (splits, needle) in [
        (vec![(other, 2)], "cannot be split"),
        (vec![(first_fixed, 1)], "parts"),
        (vec![(first_fixed, limit + 1)], "parts"),
        (vec![(first_fixed, 2), (first_fixed, 2)], "once"),
        (vec![(model.layers().len(), 2)], "no layer"),
    ] {
        let e = Model::split_layers_file(&bytes, "m.msgpack", &splits)
            .expect_err("refused")
            .to_string();
        assert!(e.contains(needle) && e.contains("m.msgpack"), "{e}");
    }
}

/// Splits chained: a split layer right after another split's tail that reads only its concatenation gets that
/// concatenation copied into each of its parts (which then read the earlier parts directly), and the forward
/// pass is still the original's. MNIST's second convolution reads the first's pooled and scaled channels; the
/// tiny transformer's second MLP layer reads the first's GELU.
#[test]
fn chained_splits_read_the_previous_parts_and_compute_what_the_original_does() {
    for (model_path, input_path, first, second) in [
        (
            repo().join("../shared/models/zkml/mnist/model.msgpack"),
            repo().join("../shared/models/zkml/mnist/inp.msgpack"),
            0,
            4,
        ),
        (
            repo().join("testdata/models/tiny_transformer.msgpack"),
            repo().join("testdata/inputs/tiny_transformer.msgpack"),
            44,
            55,
        ),
    ] {
        let bytes = std::fs::read(&model_path).expect("model");
        let model = Model::from_msgpack(&bytes, "m.msgpack").expect("load");
        let input = TensorFile::load(&input_path).expect("input");
        let want = outputs(&model, &input);
        let tail = model.channel_tail(first);
        assert_eq!(first + tail + 1, second, "{}", model_path.display());
        for (p0, p1) in [(2, 2), (2, 3), (3, 2)] {
            let at = [
                SplitAt {
                    layer: first,
                    parts: p0,
                    tail,
                },
                SplitAt {
                    layer: second,
                    parts: p1,
                    tail: model.channel_tail(second),
                },
            ];
            let split = Model::split_layers_chained(&bytes, "m.msgpack", &at).expect("split");
            let m = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
            let (s0, s1) = (split.sections[0], split.sections[1]);
            assert!(!s0.joined && !s0.lead && s1.lead && s1.joined);
            assert_eq!(s0.join(), s1.start, "no concatenation between the parts");
            assert_eq!(s1.len, 2 + at[1].tail);
            let earlier: Vec<i64> = (0..p0)
                .map(|p| m.layers()[s0.part(p).1 - 1].outputs[0])
                .collect();
            let mut copies = Vec::new();
            for p in 0..p1 {
                let lead = &m.layers()[s1.part(p).0];
                assert_eq!(lead.layer_type, "Concatenation");
                assert_eq!(
                    lead.inputs, earlier,
                    "part {p} joins the earlier parts itself"
                );
                assert_eq!(m.layers()[s1.part(p).0 + 1].inputs[0], lead.outputs[0]);
                copies.push(lead.outputs[0]);
            }
            copies.dedup();
            assert_eq!(copies.len(), p1, "each part writes its own copy");
            assert_eq!(m.layers()[s1.join()].layer_type, "Concatenation");
            assert_eq!(
                m.layers().len(),
                model.layers().len() + p0 * s0.len - s0.len + p1 * s1.len + 1 - (s1.len - 1)
            );
            assert_eq!(
                outputs(&m, &input),
                want,
                "{} in {p0} and {p1} parts",
                model_path.display()
            );
            // Without chaining, the same splits keep both concatenations.
            let plain = Model::split_layers_with_tails(&bytes, "m.msgpack", &at).expect("split");
            assert!(plain.sections.iter().all(|s| s.joined && !s.lead));
            assert_ne!(plain.bytes, split.bytes);
        }
    }
}

/// Splits that are not adjacent, or whose concatenation is read by another layer too, are not chained.
#[test]
fn splits_are_chained_only_where_the_later_reads_nothing_but_the_concatenation() {
    let bytes =
        std::fs::read(repo().join("../shared/models/zkml/mnist/model.msgpack")).expect("model");
    // Layers 0 and 4 split without their tails: layer 4 does not read layer 0's output.
    let at = [
        SplitAt {
            layer: 0,
            parts: 2,
            tail: 0,
        },
        SplitAt {
            layer: 4,
            parts: 2,
            tail: 0,
        },
    ];
    let chained = Model::split_layers_chained(&bytes, "m.msgpack", &at).expect("split");
    let plain = Model::split_layers_with_tails(&bytes, "m.msgpack", &at).expect("split");
    assert_eq!(chained, plain);
    // The wide MLP: its wide layer's output is read by layer 1 alone (the model's input is read again later,
    // which does not matter): splitting both chains them.
    let bytes = std::fs::read(repo().join("testdata/models/wide_mlp.msgpack")).expect("model");
    let model = Model::from_msgpack(&bytes, "m.msgpack").expect("load");
    assert_eq!(model.layers()[1].inputs[0], model.layers()[0].outputs[0]);
    let at = [0, 1].map(|layer| SplitAt {
        layer,
        parts: 2,
        tail: 0,
    });
    let split = Model::split_layers_chained(&bytes, "m.msgpack", &at).expect("split");
    assert!(!split.sections[0].joined && split.sections[1].lead);
    let input = TensorFile::load(&repo().join("testdata/inputs/wide_mlp.msgpack")).expect("input");
    let m = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
    assert_eq!(outputs(&m, &input), outputs(&model, &input));
}

/// A softmax over `[3, 4, 5]` with `mask` (as zkml writes it: rank, shape, values; empty for none), its input
/// and the model.
fn masked_softmax(mask: &[i64]) -> (Vec<u8>, Model, TensorFile) {
    let mut w = dzk_ir::ModelWriter::new(1 << 8, 12);
    let x = w.input(&[3, 4, 5]);
    let y = w.layer("Softmax", mask.to_vec(), &[x], &[vec![3, 4, 5]]);
    w.set_outputs(y);
    let (bytes, model) = w.finish("softmax.msgpack").expect("model");
    let values: Vec<i64> = (0..60).map(|i| (i * 37 % 23 - 11) * 40).collect();
    let input = TensorFile::new(vec![(
        x,
        dzk_ir::Tensor::new(vec![3, 4, 5], values).expect("tensor"),
    )])
    .expect("input");
    (bytes, model, input)
}

/// A softmax splits by rows along its first axis of more than one row: each part slices its rows and takes their
/// softmax, a concatenation along that axis joins them, and the outputs are the original's, with no mask, a mask
/// that broadcasts along the split axis (kept as it is) and one that varies along it (sliced per part).
#[test]
fn a_softmax_split_by_rows_computes_what_the_original_does_under_every_mask() {
    let along: Vec<i64> = [
        vec![3, 3, 1, 5],
        (0..15).map(|i| i64::from(i % 4 == 1)).collect(),
    ]
    .concat();
    let across: Vec<i64> = [
        vec![2, 4, 5],
        (0..20).map(|i| i64::from(i % 3 == 0)).collect(),
    ]
    .concat();
    for mask in [Vec::new(), across, along] {
        let (bytes, model, input) = masked_softmax(&mask);
        assert!(model.splits_by_rows(0));
        assert_eq!(model.split_limit(0), Ok(3));
        assert_eq!(model.channel_tail(0), 0, "a row split carries nothing");
        let want = outputs(&model, &input);
        for parts in [2, 3] {
            let split =
                Model::split_layers_file(&bytes, "m.msgpack", &[(0, parts)]).expect("split");
            let m = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
            let sec = split.sections[0];
            assert_eq!(
                (sec.parts, sec.len, sec.sliced, sec.original_layers()),
                (parts, 2, true, 1)
            );
            for p in 0..parts {
                let (a, b) = sec.part(p);
                let types: Vec<&str> = m.layers()[a..b]
                    .iter()
                    .map(|l| l.layer_type.as_str())
                    .collect();
                assert_eq!(types, ["Slice", "Softmax"]);
            }
            let join = &m.layers()[sec.join()];
            assert_eq!(join.op, dzk_ir::Op::Concatenation { axis: 0 });
            assert_eq!(outputs(&m, &input), want, "mask {mask:?} in {parts} parts");
        }
        // More parts than rows, or a part carrying the layer after it, are refused.
        let e = Model::split_layers_file(&bytes, "m.msgpack", &[(0, 4)]).expect_err("too many");
        assert!(e.to_string().contains("2 to 3"), "{e}");
    }
    // Rows along the first axis of more than one: a leading axis of one is passed over.
    let mut w = dzk_ir::ModelWriter::new(1 << 8, 12);
    let x = w.input(&[1, 2, 3]);
    let y = w.layer("Softmax", Vec::new(), &[x], &[vec![1, 2, 3]]);
    w.set_outputs(y);
    let (bytes, model) = w.finish("s.msgpack").expect("model");
    assert_eq!(model.split_limit(0), Ok(2));
    let split = Model::split_layers_file(&bytes, "m.msgpack", &[(0, 2)]).expect("split");
    let m = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
    assert_eq!(
        m.layers()[split.sections[0].join()].op,
        dzk_ir::Op::Concatenation { axis: 1 }
    );
    // A softmax of one row is not split.
    let mut w = dzk_ir::ModelWriter::new(1 << 8, 12);
    let x = w.input(&[1, 1, 3]);
    let y = w.layer("Softmax", Vec::new(), &[x], &[vec![1, 1, 3]]);
    w.set_outputs(y);
    let (_, model) = w.finish("s.msgpack").expect("model");
    let e = model.split_limit(0).expect_err("one row");
    assert!(e.contains("more than one row"), "{e}");
}

/// A tensor's index and values.
type Named = (i64, Vec<i64>);

/// Splits layer `l` of the model in `bytes` into `parts` and checks the split model: its forward pass gives `want`,
/// each part holds `slices` slices then the layer, and the join concatenates along `axis`.
fn check_row_split(
    (bytes, input, want): (&[u8], &TensorFile, &[Named]),
    l: usize,
    parts: usize,
    (slices, axis): (usize, i64),
) {
    let split = Model::split_layers_file(bytes, "m.msgpack", &[(l, parts)]).expect("split");
    let m = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
    let sec = split.sections[0];
    assert_eq!(
        (sec.parts, sec.len, sec.sliced, sec.original_layers()),
        (parts, 1 + slices, true, 1),
        "layer {l} in {parts} parts"
    );
    for p in 0..parts {
        let (a, b) = sec.part(p);
        let types: Vec<&str> = m.layers()[a..b]
            .iter()
            .map(|x| x.layer_type.as_str())
            .collect();
        assert!(types[..slices].iter().all(|&t| t == "Slice"), "{types:?}");
    }
    assert_eq!(
        m.layers()[sec.join()].op,
        dzk_ir::Op::Concatenation { axis }
    );
    assert_eq!(
        outputs(&m, input),
        want,
        "layer {l} ({}) in {parts} parts",
        m.layers()[sec.part(0).1 - 1].layer_type
    );
}

/// A batched product of two activations splits by batch (both operands sliced) or, with one batch, by the
/// first operand's rows (the second read whole, given as it is or transposed); the outputs are the original's.
#[test]
fn a_batched_product_split_by_batch_or_rows_computes_what_the_original_does() {
    let value = |n: usize, seed: i64| -> Vec<i64> {
        (0..n as i64)
            .map(|i| ((i * 29 + seed) % 41 - 20) * 7)
            .collect()
    };
    // (A's shape, B's shape, adj_y, output shape, rows, slices per part, axis)
    let cases = [
        ([3, 4, 5], [3, 5, 2], 0, vec![3, 4, 2], 3, 2, 0),
        ([1, 4, 5], [1, 5, 2], 0, vec![1, 4, 2], 4, 1, 1),
        ([1, 6, 5], [1, 3, 5], 1, vec![1, 6, 3], 6, 1, 1),
    ];
    for (a_shape, b_shape, adj_y, out, rows, slices, axis) in cases {
        let mut w = dzk_ir::ModelWriter::new(1 << 8, 12);
        let a = w.input(&a_shape);
        let b = w.input(&b_shape);
        let y = w.layer("BatchMatMul", vec![0, adj_y], &[a, b], &[out]);
        w.set_outputs(y);
        let (bytes, model) = w.finish("bmm.msgpack").expect("model");
        assert!(model.splits_by_rows(0));
        assert_eq!(model.split_unit(0), "row");
        assert_eq!(model.split_limit(0), Ok(rows));
        let input = TensorFile::new(vec![
            (
                a,
                dzk_ir::Tensor::new(a_shape.to_vec(), value(a_shape.iter().product(), 3))
                    .expect("a"),
            ),
            (
                b,
                dzk_ir::Tensor::new(b_shape.to_vec(), value(b_shape.iter().product(), 11))
                    .expect("b"),
            ),
        ])
        .expect("input");
        let want = outputs(&model, &input);
        for parts in [2, 3, rows] {
            check_row_split((&bytes, &input, &want), 0, parts, (slices, axis));
        }
    }
    // One batch of one row: nothing to split.
    let mut w = dzk_ir::ModelWriter::new(1 << 8, 12);
    let a = w.input(&[1, 1, 5]);
    let b = w.input(&[1, 5, 2]);
    let y = w.layer("BatchMatMul", vec![0, 0], &[a, b], &[vec![1, 1, 2]]);
    w.set_outputs(y);
    let (_, model) = w.finish("bmm.msgpack").expect("model");
    let e = model.split_limit(0).expect_err("one row");
    assert!(
        e.contains("neither more than one batch nor more than one row"),
        "{e}"
    );
}

/// An element-wise layer splits by position along its output's first axis of more than one: an operand that
/// varies along it is sliced (a constant one replaced by its share), one that broadcasts along it is read whole;
/// the outputs are the original's.
#[test]
fn an_element_wise_layer_split_by_position_computes_what_the_original_does() {
    let mut w = dzk_ir::ModelWriter::new(1 << 8, 12);
    let x = w.input(&[4, 6]);
    let row = w.input(&[1, 6]);
    let full = w.constant(
        &dzk_ir::Tensor::new(vec![4, 6], (0..24).map(|i| i * 13 % 17 - 8).collect())
            .expect("constant"),
    );
    let per_col =
        w.constant(&dzk_ir::Tensor::new(vec![6], vec![3, -2, 5, 0, 1, -4]).expect("constant"));
    // Layer 0: x + full (a constant that varies: its share); 1: · row (an activation that broadcasts: whole);
    // 2: − per_col (a constant that broadcasts: as it is); 3: its square; 4: (· x, two activations sliced).
    let s0 = w.layer("Add", vec![0], &[x, full], &[vec![4, 6]]);
    let s1 = w.layer("Mul", Vec::new(), &[s0[0], row], &[vec![4, 6]]);
    let s2 = w.layer("Sub", Vec::new(), &[s1[0], per_col], &[vec![4, 6]]);
    let s3 = w.layer("Square", Vec::new(), &[s2[0]], &[vec![4, 6]]);
    let s4 = w.layer("Mul", Vec::new(), &[s3[0], x], &[vec![4, 6]]);
    w.set_outputs(s4);
    let (bytes, model) = w.finish("ew.msgpack").expect("model");
    let data = |n: i64, seed: i64| {
        (0..n)
            .map(|i| (i * 31 + seed) % 29 - 14)
            .collect::<Vec<_>>()
    };
    let input = TensorFile::new(vec![
        (x, dzk_ir::Tensor::new(vec![4, 6], data(24, 5)).expect("x")),
        (
            row,
            dzk_ir::Tensor::new(vec![1, 6], data(6, 9)).expect("row"),
        ),
    ])
    .expect("input");
    let want = outputs(&model, &input);
    // Slices per part: x (not the constant), s0 (not row), s1, s2, s3 and x.
    for (l, slices) in [(0, 1), (1, 1), (2, 1), (3, 1), (4, 2)] {
        assert!(model.splits_by_rows(l), "layer {l}");
        assert_eq!(model.split_unit(l), "position");
        assert_eq!(model.split_limit(l), Ok(4));
        assert_eq!(model.channel_tail(l), 0);
        for parts in [2, 3, 4] {
            check_row_split((&bytes, &input, &want), l, parts, (slices, 0));
        }
    }
    // Along the last axis when the others hold one position.
    let mut w = dzk_ir::ModelWriter::new(1 << 8, 12);
    let x = w.input(&[1, 6]);
    let c = w.constant(&dzk_ir::Tensor::new(vec![6], vec![1, 2, 3, 4, 5, 6]).expect("c"));
    let y = w.layer("Add", vec![0], &[x, c], &[vec![1, 6]]);
    w.set_outputs(y);
    let (bytes, model) = w.finish("ew.msgpack").expect("model");
    assert_eq!(model.split_limit(0), Ok(6));
    let input = TensorFile::new(vec![(
        x,
        dzk_ir::Tensor::new(vec![1, 6], data(6, 2)).expect("x"),
    )])
    .expect("input");
    let want = outputs(&model, &input);
    for parts in [2, 6] {
        check_row_split((&bytes, &input, &want), 0, parts, (1, 1));
    }
}

/// An attention head by head: `softmax(Q·Kᵀ · c)·V + R` over `[heads, 4, 5]`, its operands and the model. With
/// `scores_out`, the softmax's output is a model output too; with `v_after`, `V` is an input times `c`, computed
/// after the softmax (layer 3, as zkml's CLIP orders it).
fn attention(heads: usize, scores_out: bool, v_after: bool) -> (Vec<u8>, Model, TensorFile) {
    let mut w = dzk_ir::ModelWriter::new(1 << 8, 12);
    let q = w.input(&[heads, 4, 5]);
    let kt = w.input(&[heads, 5, 4]);
    let x = w.input(&[heads, 4, 5]);
    let r = w.input(&[heads, 4, 5]);
    let c = w.constant(&dzk_ir::Tensor::new(vec![], vec![90]).expect("c"));
    let s = w.layer("BatchMatMul", vec![0, 0], &[q, kt], &[vec![heads, 4, 4]]);
    let s = w.layer("Mul", Vec::new(), &[s[0], c], &[vec![heads, 4, 4]]);
    let p = w.layer("Softmax", Vec::new(), &[s[0]], &[vec![heads, 4, 4]]);
    let v = match v_after {
        true => w.layer("Mul", Vec::new(), &[x, c], &[vec![heads, 4, 5]])[0],
        false => x,
    };
    let y = w.layer("BatchMatMul", vec![0, 0], &[p[0], v], &[vec![heads, 4, 5]]);
    let y = w.layer("Add", vec![0], &[y[0], r], &[vec![heads, 4, 5]]);
    w.set_outputs(if scores_out { vec![p[0], y[0]] } else { y });
    let (bytes, model) = w.finish("attention.msgpack").expect("model");
    let data = |shape: Vec<usize>, seed: i64| {
        let n = shape.iter().product::<usize>() as i64;
        dzk_ir::Tensor::new(
            shape,
            (0..n).map(|i| ((i * 37 + seed) % 31 - 15) * 9).collect(),
        )
        .expect("tensor")
    };
    let input = TensorFile::new(vec![
        (q, data(vec![heads, 4, 5], 1)),
        (kt, data(vec![heads, 5, 4], 2)),
        (x, data(vec![heads, 4, 5], 3)),
        (r, data(vec![heads, 4, 5], 4)),
    ])
    .expect("input");
    (bytes, model, input)
}

/// A row split carries the layers after it that act row by row along the same axis: `Q·Kᵀ` split by heads
/// carries the scale, the softmax, the product with `V` (sliced by heads too) and the residual sum, and the
/// outputs are the original's; a tensor of the run read after it (here the softmax's, a model output) ends the
/// tail before it. With one head, the split runs along `Q`'s rows and `V` is read whole.
#[test]
fn a_row_split_carries_the_layers_after_it_that_act_row_by_row() {
    for (heads, axis, types) in [
        (
            3,
            0,
            vec![
                "Slice",
                "Slice",
                "BatchMatMul",
                "Mul",
                "Softmax",
                "Slice",
                "BatchMatMul",
                "Slice",
                "Add",
            ],
        ),
        (
            1,
            1,
            vec![
                "Slice",
                "BatchMatMul",
                "Mul",
                "Softmax",
                "BatchMatMul",
                "Slice",
                "Add",
            ],
        ),
    ] {
        let (bytes, model, input) = attention(heads, false, false);
        let rows = [3, 4][axis as usize];
        assert_eq!(model.split_limit(0), Ok(rows));
        assert_eq!([0, 1, 2, 3, 4].map(|l| model.row_tail(l)), [4, 3, 2, 1, 0]);
        assert_eq!(model.split_tail(0), 4);
        assert_eq!(model.channel_tail(0), 0);
        let want = outputs(&model, &input);
        for parts in [2, rows] {
            let at = [SplitAt {
                layer: 0,
                parts,
                tail: 4,
            }];
            let split =
                Model::split_layers_with_tails(&bytes, "m.msgpack", &at).expect("split with tail");
            let m = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
            let sec = split.sections[0];
            assert_eq!(
                (
                    sec.parts,
                    sec.len,
                    sec.tail,
                    sec.sliced,
                    sec.original_layers()
                ),
                (parts, types.len(), 4, true, 5)
            );
            for p in 0..parts {
                let (a, b) = sec.part(p);
                let got: Vec<&str> = m.layers()[a..b]
                    .iter()
                    .map(|x| x.layer_type.as_str())
                    .collect();
                assert_eq!(got, types, "part {p} of {parts}");
            }
            let join = &m.layers()[sec.join()];
            assert_eq!(join.op, dzk_ir::Op::Concatenation { axis });
            assert_eq!(join.outputs, model.layers()[4].outputs);
            assert_eq!(m.layers().len(), sec.join() + 1);
            assert_eq!(outputs(&m, &input), want, "{heads} heads in {parts} parts");
        }
        // More than the tail is refused, with the reason.
        let e = Model::split_layers_with_tails(
            &bytes,
            "m.msgpack",
            &[SplitAt {
                layer: 1,
                parts: 2,
                tail: 4,
            }],
        )
        .expect_err("refused");
        assert!(e.to_string().contains("at most 3 act row by row"), "{e}");
    }
    // The softmax's output read after the run (a model output): the parts stop at the softmax.
    let (bytes, model, input) = attention(3, true, false);
    assert_eq!(model.row_tail(0), 2);
    let want = outputs(&model, &input);
    let at = [SplitAt {
        layer: 0,
        parts: 3,
        tail: 2,
    }];
    let split = Model::split_layers_with_tails(&bytes, "m.msgpack", &at).expect("split");
    let m = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
    assert_eq!(
        m.layers()[split.sections[0].join()].outputs,
        model.layers()[2].outputs
    );
    assert_eq!(outputs(&m, &input), want);
}

/// The tiny transformer's second head (`Q·Kᵀ` as a batched product over one batch, its scale, softmax and product
/// with `V`) is carried whole by parts of `Q·Kᵀ`'s rows; its first head computes `Kᵀ` and `V` between them (a
/// product of two activations by a fully connected layer and a transpose), so its softmax carries nothing.
#[test]
fn the_tiny_transformers_second_head_is_carried_by_parts_of_its_scores() {
    let path = repo().join("testdata/models/tiny_transformer.msgpack");
    let bytes = std::fs::read(&path).expect("model");
    let model = Model::from_msgpack(&bytes, "m.msgpack").expect("load");
    let types: Vec<&str> = model.layers()[25..=28]
        .iter()
        .map(|l| l.layer_type.as_str())
        .collect();
    assert_eq!(types, ["BatchMatMul", "Mul", "Softmax", "BatchMatMul"]);
    assert_eq!([25, 26, 27, 28].map(|l| model.row_tail(l)), [3, 2, 1, 0]);
    assert_eq!(model.layers()[16].layer_type, "Softmax");
    assert_eq!(model.row_tail(16), 0);
}

/// zkml's CLIP computes `V` after the softmax, between it and the product with `V`: the softmax's row tail is then
/// empty. `row_tail_hoist` names the layers that read none of the softmax's run, `move_before_file` moves them
/// before it (the forward pass unchanged), and the softmax then carries the product with `V` and the residual sum.
/// A move that would read a tensor before it is written is refused.
#[test]
fn layers_between_a_softmax_and_its_product_with_v_move_before_it() {
    let (bytes, model, input) = attention(3, false, true);
    let want = outputs(&model, &input);
    assert_eq!(
        model.row_tail(2),
        0,
        "the layer after the softmax does not read it"
    );
    assert_eq!(model.row_tail_hoist(2), vec![3]);
    // Only a softmax moves layers; `Q·Kᵀ` carries nothing past the softmax anyway.
    assert!(model.row_tail_hoist(0).is_empty() && model.row_tail_hoist(4).is_empty());
    let (moved, order) =
        Model::move_before_file(&bytes, "m.msgpack", &[(2, vec![3])]).expect("moved");
    assert_eq!(order, [0, 1, 3, 2, 4, 5]);
    let m = Model::from_msgpack(&moved, "m.msgpack").expect("load");
    assert_eq!(outputs(&m, &input), want);
    assert_eq!(
        m.row_tail(3),
        2,
        "the softmax carries the product with V and the sum"
    );
    assert!(m.row_tail_hoist(3).is_empty());
    let at = [SplitAt {
        layer: 3,
        parts: 3,
        tail: 2,
    }];
    let split = Model::split_layers_with_tails(&moved, "m.msgpack", &at).expect("split");
    let sm = Model::from_msgpack(&split.bytes, "m.msgpack").expect("load split");
    assert_eq!(outputs(&sm, &input), want);
    // The product with `V` cannot move before the softmax it reads, nor a layer before one after it twice.
    for moves in [
        vec![(2, vec![4])],
        vec![(2, vec![3]), (1, vec![3])],
        vec![(4, vec![2])],
    ] {
        let e = Model::move_before_file(&bytes, "m.msgpack", &moves).expect_err("refused");
        assert!(e.to_string().contains("m.msgpack"), "{e}");
    }
    let e = Model::move_before_file(&bytes, "m.msgpack", &[(2, vec![4])]).expect_err("refused");
    assert!(
        e.to_string().contains("would read tensor") && e.to_string().contains("before layer 2"),
        "{e}"
    );
}
