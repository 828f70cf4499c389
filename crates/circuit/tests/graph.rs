//! Chunks of a graph-shaped plan under `MockProver`: a part of a split layer (it reads the boundary before the
//! layer and writes its share of the channels) and the chunk after the parts (it reads several boundaries, one
//! input commitment each). Honest witnesses pass; a tampered product, a wrong share, swapped commitments and
//! input groups that do not cover what the slice reads are rejected.

mod common;
use std::sync::Arc;

use common::{mock, repo};
use dzk_circuit::{ChunkCircuit, ChunkIo, InputGroup, LayoutParams, Visibility};
use dzk_gadgets::matcheck::Tamper;
use dzk_gadgets::{fe, Fr};
use dzk_ir::{Model, TensorFile};
use dzk_merkle::commit;

/// A shipped model with its layer 0 split into 2 parts: layers 0 and 1 are the parts, layer 2 their
/// concatenation.
fn split(model: &str, input: &str) -> (Arc<Model>, TensorFile) {
    let bytes = std::fs::read(repo().join(model)).expect("model");
    let s = Model::split_layers_file(&bytes, model, &[(0, 2)]).expect("split");
    (
        Arc::new(Model::from_msgpack(&s.bytes, model).expect("load")),
        TensorFile::load(&repo().join(input)).expect("input"),
    )
}

fn layout() -> LayoutParams {
    LayoutParams {
        check_width: 4,
        ..LayoutParams::default()
    }
}

/// The tiny transformer with the layers of `at` split (`chained`: `Model::split_layers_chained`), and the forward
/// pass of its shipped input through the split model, checked equal to the original's outputs. `at` is given
/// the original model to read tails from.
fn tiny_split(
    at: impl FnOnce(&Model) -> Vec<dzk_ir::SplitAt>,
    chained: bool,
) -> (Arc<Model>, dzk_ir::Trace, Vec<dzk_ir::Section>) {
    let bytes =
        std::fs::read(repo().join("testdata/models/tiny_transformer.msgpack")).expect("model");
    let orig = Model::from_msgpack(&bytes, "tiny").expect("model");
    let at = at(&orig);
    let s = if chained {
        Model::split_layers_chained(&bytes, "tiny", &at)
    } else {
        Model::split_layers_with_tails(&bytes, "tiny", &at)
    }
    .expect("split");
    let m = Arc::new(Model::from_msgpack(&s.bytes, "tiny").expect("load"));
    let input =
        TensorFile::load(&repo().join("testdata/inputs/tiny_transformer.msgpack")).expect("input");
    let full = m.forward(&input).expect("forward");
    assert_eq!(
        full.outputs(),
        orig.forward(&input).expect("forward").outputs(),
        "the split model computes the original's outputs"
    );
    (m, full, s.sections)
}

const HASHED: Visibility = Visibility {
    public_input: false,
    public_output: true,
};

/// Part `p` of the split layer whose parts start at layer `at`: it reads the tensors live before the layer
/// (values from `trace`) and writes its share; salts (7, 11 + p).
fn part(m: &Arc<Model>, trace: &dzk_ir::Trace, at: usize, p: usize) -> ChunkCircuit {
    let live = m.live_at(at);
    let io = ChunkIo {
        groups: vec![InputGroup {
            model_inputs: at == 0,
            tensors: live.clone(),
        }],
        outputs: m.layers()[at + p].outputs.clone(),
        public_outputs: false,
    };
    let given = TensorFile::new(
        live.iter()
            .map(|&i| (i, trace.tensor(i).expect("live tensor").clone()))
            .collect(),
    )
    .expect("inputs");
    ChunkCircuit::new(m.clone(), at + p, at + p + 1, layout())
        .expect("circuit")
        .with_io(io)
        .expect("io")
        .with_visibility(HASHED)
        .with_group_inputs(&given, &[Fr::from(7)], Fr::from(11 + p as u64))
        .expect("witness")
}

/// A projection of 16 tokens of width 32 (`[16, 32] × [32, 32]ᵀ + b`, ReLU), as zkml writes one.
fn projection() -> (Vec<u8>, TensorFile) {
    let (t, d) = (16usize, 32usize);
    let w: Vec<i64> = (0..d * d).map(|i| ((i * 37 % 61) as i64) - 30).collect();
    let b: Vec<i64> = (0..d).map(|i| (i as i64 * 13 % 41) - 20).collect();
    let x: Vec<i64> = (0..t * d).map(|i| ((i * 29 % 97) as i64) - 48).collect();
    let model = serde_json::json!({
        "global_sf": 64, "k": 12, "num_cols": 10, "inp_idxes": [0], "out_idxes": [3],
        "tensors": [
            {"idx": 1, "shape": [d, d], "data": w},
            {"idx": 2, "shape": [d], "data": b},
        ],
        "layers": [{
            "layer_type": "FullyConnected", "params": [1], "inp_idxes": [0, 1, 2],
            "inp_shapes": [[t, d], [d, d], [d]], "out_idxes": [3], "out_shapes": [[t, d]], "mask": [],
        }],
    });
    let input = common::json_input(&serde_json::json!([{"idx": 0, "shape": [t, d], "data": x}]));
    (rmp_serde::to_vec_named(&model).expect("encode"), input)
}

#[test]
fn a_part_of_a_split_layer_proves_its_share_and_a_tampered_one_does_not() {
    // A projection whose product the matrix-check chip proves, split into two parts of 16 channels.
    let (bytes, input) = projection();
    let orig = Model::from_msgpack(&bytes, "projection").expect("model");
    let s = Model::split_layers_file(&bytes, "projection", &[(0, 2)]).expect("split");
    let m = Arc::new(Model::from_msgpack(&s.bytes, "projection").expect("load"));
    let at = 0;
    let full = m.forward(&input).expect("forward");
    assert_eq!(
        full.outputs(),
        orig.forward(&input).expect("forward").outputs(),
        "the split model computes the original's outputs"
    );
    for p in 0..2 {
        let c = part(&m, &full, at, p);
        // Instances: h_in over the tensors live before the layer, h_out over the part's share of the channels.
        let out = m.layers()[at + p].outputs[0];
        let want_out = full.tensor(out).expect("part output").data().to_vec();
        let live: Vec<i64> = m
            .live_at(at)
            .iter()
            .flat_map(|&i| full.tensor(i).expect("live").data().to_vec())
            .collect();
        let want = vec![
            commit(Fr::from(7), &live).expect("commit"),
            commit(Fr::from(11 + p as u64), &want_out).expect("commit"),
        ];
        assert_eq!(c.instances(), want.as_slice());
        mock(&c, want.clone()).expect("the honest part");
        assert_eq!(
            c.matrix_checks(),
            1,
            "the part's product is on the matrix-check chip"
        );
        // A tampered product entry (running sums recomputed), and the same fixed up after the challenge.
        for tamper in [
            Tamper::Output { p: 1, o: 0 },
            Tamper::OutputFixedUpAfterChallenge { p: 0, o: 1 },
        ] {
            let bad = part(&m, &full, at, p).with_product_tamper(0, tamper);
            assert!(mock(&bad, want.clone()).is_err(), "{tamper:?} accepted");
        }
        // Another share claimed (the other part's output commitment).
        let mut other = want.clone();
        let o2 = m.layers()[at + 1 - p].outputs[0];
        other[1] = commit(
            Fr::from(11 + p as u64),
            full.tensor(o2).expect("other share").data(),
        )
        .expect("commit");
        assert!(mock(&c, other).is_err(), "another share accepted");
    }
}

#[test]
fn the_chunk_after_the_parts_commits_to_each_boundary_it_reads() {
    // The wide MLP: the chunk after the parts reads the model's input again (a skip connection) and both parts.
    let (m, input) = split(
        "testdata/models/wide_mlp.msgpack",
        "testdata/inputs/wide_mlp.msgpack",
    );
    let n = m.layers().len();
    let full = m.forward(&input).expect("forward");
    let (y0, y1) = (m.layers()[0].outputs[0], m.layers()[1].outputs[0]);
    let io = ChunkIo {
        groups: vec![
            InputGroup {
                model_inputs: true,
                tensors: m.live_at(0),
            },
            InputGroup {
                model_inputs: false,
                tensors: vec![y0],
            },
            InputGroup {
                model_inputs: false,
                tensors: vec![y1],
            },
        ],
        outputs: m.live_at(n),
        public_outputs: false,
    };
    let mut given = vec![(0, input.get(0).expect("x").clone())];
    for y in [y0, y1] {
        given.push((y, full.tensor(y).expect("share").clone()));
    }
    let inputs = TensorFile::new(given).expect("inputs");
    let salts = [Fr::from(7), Fr::from(11), Fr::from(12)];
    let c = ChunkCircuit::new(m.clone(), 2, n, layout())
        .expect("circuit")
        .with_io(io.clone())
        .expect("io")
        .with_visibility(HASHED)
        .with_group_inputs(&inputs, &salts, Fr::from(99))
        .expect("witness");
    let outs = full.outputs().tensors()[0].1.data().to_vec();
    let mut want = vec![
        commit(salts[0], input.get(0).expect("x").data()).expect("commit"),
        commit(salts[1], full.tensor(y0).expect("y0").data()).expect("commit"),
        commit(salts[2], full.tensor(y1).expect("y1").data()).expect("commit"),
        commit(Fr::from(99), &[]).expect("commit"),
    ];
    want.extend(outs.iter().map(|&v| fe::<Fr>(v.into())));
    assert_eq!(c.instances(), want.as_slice());
    assert_eq!(c.instance_len(), want.len());
    mock(&c, want.clone()).expect("the honest join");
    // The two parts' commitments swapped: each group is bound to its own position.
    let mut swapped = want.clone();
    swapped.swap(1, 2);
    assert!(mock(&c, swapped).is_err(), "swapped commitments accepted");
    // A wrong output.
    let mut wrong = want.clone();
    let last = wrong.len() - 1;
    wrong[last] += Fr::from(1);
    assert!(mock(&c, wrong).is_err(), "a wrong output accepted");
    // Input groups that leave out a tensor the slice reads, or give one twice, are refused.
    let base = ChunkCircuit::new(m.clone(), 2, n, layout()).expect("circuit");
    let mut missing = io.clone();
    missing.groups.pop();
    assert!(base.clone().with_io(missing).is_err());
    let mut twice = io.clone();
    twice.groups[2].tensors = vec![y0];
    assert!(base.clone().with_io(twice).is_err());
    let mut late_inputs = io;
    late_inputs.groups.swap(0, 1);
    assert!(base.with_io(late_inputs).is_err());
}

#[test]
fn a_part_carrying_the_pooling_after_its_convolution_proves_its_pooled_share_and_no_other() {
    // The digits CNN: its convolution (6 channels) and the average pool after it, in 2 parts of 3 channels;
    // each part pools its own channels, and the concatenation joins the pooled shares.
    let bytes = std::fs::read(repo().join("testdata/models/digits_cnn.msgpack")).expect("model");
    let orig = Model::from_msgpack(&bytes, "digits").expect("model");
    assert_eq!(orig.channel_tail(0), 1);
    let at = [dzk_ir::SplitAt {
        layer: 0,
        parts: 2,
        tail: 1,
    }];
    let s = Model::split_layers_with_tails(&bytes, "digits", &at).expect("split");
    let m = Arc::new(Model::from_msgpack(&s.bytes, "digits").expect("load"));
    let input = TensorFile::load(&repo().join("testdata/inputs/digits_3.msgpack")).expect("input");
    let full = m.forward(&input).expect("forward");
    assert_eq!(
        full.outputs(),
        orig.forward(&input).expect("forward").outputs()
    );
    let sec = s.sections[0];
    let x = input.get(0).expect("x").data().to_vec();
    let share = |p: usize| {
        let (_, b) = sec.part(p);
        full.tensor(m.layers()[b - 1].outputs[0])
            .expect("pooled share")
            .data()
            .to_vec()
    };
    for p in 0..2 {
        let (a, b) = sec.part(p);
        assert_eq!(b - a, 2, "a part is its convolution and its pool");
        let io = ChunkIo {
            groups: vec![InputGroup {
                model_inputs: true,
                tensors: m.live_at(0),
            }],
            outputs: m.layers()[b - 1].outputs.clone(),
            public_outputs: false,
        };
        let c = ChunkCircuit::new(m.clone(), a, b, layout())
            .expect("circuit")
            .with_io(io)
            .expect("io")
            .with_visibility(HASHED)
            .with_group_inputs(&input, &[Fr::from(7)], Fr::from(11 + p as u64))
            .expect("witness");
        let salt = Fr::from(11 + p as u64);
        let want = vec![
            commit(Fr::from(7), &x).expect("commit"),
            commit(salt, &share(p)).expect("commit"),
        ];
        // The other part's pooled share, the unpooled convolution share, and one pooled value off by one.
        let conv_share = full
            .tensor(m.layers()[a].outputs[0])
            .expect("conv share")
            .data()
            .to_vec();
        let mut off = share(p);
        off[3] += 1;
        proves_its_share_alone(
            &c,
            &want,
            salt,
            [
                ("the other share", share(1 - p)),
                ("the unpooled share", conv_share),
                ("a pooled value off by one", off),
            ],
        );
    }
}

/// Part `c` proves `want` (its input commitment, then its output commitment under `salt`) and none of the
/// `claims` about its output instead.
fn proves_its_share_alone(c: &ChunkCircuit, want: &[Fr], salt: Fr, claims: [(&str, Vec<i64>); 3]) {
    assert_eq!(c.instances(), want);
    mock(c, want.to_vec()).expect("the honest part");
    for (what, values) in claims {
        let mut bad = want.to_vec();
        bad[1] = commit(salt, &values).expect("commit");
        assert!(mock(c, bad).is_err(), "{what} accepted");
    }
}

#[test]
fn a_part_carrying_a_branching_run_proves_its_share_and_no_other() {
    // The tiny transformer's MLP: the first fully connected layer (16 channels) and the 10 layers after it
    // (a reshape, then GELU as products of the activation with itself and constants, tanh and sums, reading the
    // reshaped output three times), in 2 parts of 8 channels; each part computes GELU of its own channels.
    let (m, full, sections) = tiny_split(
        |orig| {
            assert_eq!(orig.channel_tail(44), 10);
            vec![dzk_ir::SplitAt {
                layer: 44,
                parts: 2,
                tail: 10,
            }]
        },
        false,
    );
    let sec = sections[0];
    let share = |p: usize| {
        let (_, b) = sec.part(p);
        full.tensor(m.layers()[b - 1].outputs[0])
            .expect("share")
            .data()
            .to_vec()
    };
    for p in 0..2 {
        let (a, b) = sec.part(p);
        assert_eq!(b - a, 11);
        let live = m.live_at(a);
        let io = ChunkIo {
            groups: vec![InputGroup {
                model_inputs: false,
                tensors: live.clone(),
            }],
            outputs: m.layers()[b - 1].outputs.clone(),
            public_outputs: false,
        };
        let given = TensorFile::new(
            live.iter()
                .map(|&i| (i, full.tensor(i).expect("live tensor").clone()))
                .collect(),
        )
        .expect("inputs");
        let fitted = ChunkCircuit::fit(m.clone(), a, b).expect("fit");
        let c = ChunkCircuit::new(m.clone(), a, b, fitted.layout())
            .expect("circuit")
            .with_io(io)
            .expect("io")
            .with_visibility(HASHED)
            .with_group_inputs(&given, &[Fr::from(7)], Fr::from(11 + p as u64))
            .expect("witness");
        let salt = Fr::from(11 + p as u64);
        let ins: Vec<i64> = live
            .iter()
            .flat_map(|&i| full.tensor(i).expect("live").data().to_vec())
            .collect();
        let want = vec![
            commit(Fr::from(7), &ins).expect("commit"),
            commit(salt, &share(p)).expect("commit"),
        ];
        // The other part's share, the share before GELU (the reshaped product), and one value off by one.
        let before_gelu = full
            .tensor(m.layers()[a + 1].outputs[0])
            .expect("reshaped share")
            .data()
            .to_vec();
        let mut off = share(p);
        off[5] += 1;
        proves_its_share_alone(
            &c,
            &want,
            salt,
            [
                ("the other share", share(1 - p)),
                ("the share before GELU", before_gelu),
                ("a value off by one", off),
            ],
        );
    }
}

/// A part of a split last layer that states the model's outputs (`ChunkIo::public_outputs`): its share is
/// public, after `h_in` and an `h_out` over nothing, and bound to its cells: a changed value, another part's
/// share or the share moved in the instances is rejected. Without it the same part hashes its share.
#[test]
fn a_part_that_states_the_outputs_binds_its_public_share() {
    let model = serde_json::json!({
        "global_sf": 64, "k": 12, "num_cols": 10, "inp_idxes": [0], "out_idxes": [3],
        "tensors": [
            {"idx": 1, "shape": [12, 8], "data": (0..96).map(|i| (i * 37 % 61) - 30).collect::<Vec<i64>>()},
            {"idx": 2, "shape": [12], "data": (0..12).map(|i| (i * 13 % 41) - 20).collect::<Vec<i64>>()},
        ],
        "layers": [{
            "layer_type": "FullyConnected", "params": [0], "inp_idxes": [0, 1, 2],
            "inp_shapes": [[4, 8], [12, 8], [12]], "out_idxes": [3], "out_shapes": [[4, 12]], "mask": [],
        }],
    });
    let bytes = rmp_serde::to_vec_named(&model).expect("encode");
    let input = common::json_input(&serde_json::json!([
        {"idx": 0, "shape": [4, 8], "data": (0..32).map(|i| (i * 29 % 97) - 48).collect::<Vec<i64>>()}
    ]));
    let s = Model::split_layers_file(&bytes, "head", &[(0, 2)]).expect("split");
    let m = Arc::new(Model::from_msgpack(&s.bytes, "head").expect("load"));
    let full = m.forward(&input).expect("forward");
    let public = Visibility {
        public_input: false,
        public_output: true,
    };
    let part = |p: usize, states: bool| {
        ChunkCircuit::new(m.clone(), p, p + 1, layout())
            .expect("circuit")
            .with_io(ChunkIo {
                groups: vec![InputGroup {
                    model_inputs: true,
                    tensors: vec![0],
                }],
                outputs: m.layers()[p].outputs.clone(),
                public_outputs: states,
            })
            .expect("io")
            .with_visibility(public)
            .with_group_inputs(&input, &[Fr::from(7)], Fr::from(11))
            .expect("witness")
    };
    let share = |p: usize| {
        full.tensor(m.layers()[p].outputs[0])
            .expect("share")
            .data()
            .to_vec()
    };
    let h_in = commit(Fr::from(7), input.get(0).expect("x").data()).expect("commit");
    for p in 0..2 {
        let c = part(p, true);
        let mut want = vec![h_in, commit(Fr::from(11), &[]).expect("commit")];
        want.extend(share(p).iter().map(|&v| fe::<Fr>(i128::from(v))));
        assert_eq!(c.instances(), want.as_slice(), "part {p}'s instances");
        assert_eq!(c.instance_len(), 2 + 24);
        mock(&c, want.clone()).expect("the honest part");
        let mut changed = want.clone();
        changed[5] += Fr::from(1);
        assert!(mock(&c, changed).is_err(), "a changed output accepted");
        let mut other = want[..2].to_vec();
        other.extend(share(1 - p).iter().map(|&v| fe::<Fr>(i128::from(v))));
        assert!(mock(&c, other).is_err(), "the other part's share accepted");
        let mut moved = want.clone();
        moved.swap(2, 3);
        assert!(
            share(p)[0] == share(p)[1] || mock(&c, moved).is_err(),
            "two outputs swapped accepted"
        );
        // Its outputs not public, the same part commits to its share in h_out.
        let hashed = part(p, false);
        assert_eq!(
            hashed.instances(),
            [h_in, commit(Fr::from(11), &share(p)).expect("commit")].as_slice()
        );
    }
}

/// A part of a split that reads the previous split's parts directly (`Model::split_layers_chained`): the tiny
/// transformer's second MLP layer in 2 parts after the first (with its GELU) in 2. The part starts with its own
/// copy of the concatenation and commits to each earlier part it reads, one input commitment each, in order:
/// the honest part passes; the input commitments swapped, an earlier share with one value changed, the other
/// part's output and an output value off by one are rejected.
#[test]
fn a_part_reading_the_previous_parts_commits_to_each_and_proves_its_share() {
    let (m, full, sections) = tiny_split(
        |orig| {
            [(44, 10), (55, orig.channel_tail(55))]
                .map(|(layer, tail)| dzk_ir::SplitAt {
                    layer,
                    parts: 2,
                    tail,
                })
                .to_vec()
        },
        true,
    );
    let (s0, s1) = (sections[0], sections[1]);
    assert!(s1.lead && !s0.joined);
    let earlier: Vec<i64> = (0..2)
        .map(|p| m.layers()[s0.part(p).1 - 1].outputs[0])
        .collect();
    let values = |t: i64| full.tensor(t).expect("tensor").data().to_vec();
    let salts = [Fr::from(7), Fr::from(8)];
    let share = |p: usize| values(m.layers()[s1.part(p).1 - 1].outputs[0]);
    for p in 0..2 {
        let (a, b) = s1.part(p);
        assert_eq!(m.layers()[a].layer_type, "Concatenation");
        let io = ChunkIo {
            groups: earlier
                .iter()
                .map(|&t| InputGroup {
                    model_inputs: false,
                    tensors: vec![t],
                })
                .collect(),
            outputs: m.layers()[b - 1].outputs.clone(),
            public_outputs: false,
        };
        let given = TensorFile::new(
            earlier
                .iter()
                .map(|&t| (t, full.tensor(t).expect("share").clone()))
                .collect(),
        )
        .expect("inputs");
        let salt = Fr::from(11 + p as u64);
        let c = ChunkCircuit::new(m.clone(), a, b, layout())
            .expect("circuit")
            .with_io(io)
            .expect("io")
            .with_visibility(HASHED)
            .with_group_inputs(&given, &salts, salt)
            .expect("witness");
        let want = vec![
            commit(salts[0], &values(earlier[0])).expect("commit"),
            commit(salts[1], &values(earlier[1])).expect("commit"),
            commit(salt, &share(p)).expect("commit"),
        ];
        assert_eq!(c.instances(), want.as_slice());
        mock(&c, want.clone()).expect("the honest part");
        let mut swapped = want.clone();
        swapped.swap(0, 1);
        assert!(mock(&c, swapped).is_err(), "swapped inputs accepted");
        let mut changed = values(earlier[1]);
        changed[0] += 1;
        let mut other_input = want.clone();
        other_input[1] = commit(salts[1], &changed).expect("commit");
        assert!(
            mock(&c, other_input).is_err(),
            "another earlier share accepted"
        );
        let mut off = share(p);
        off[0] += 1;
        for (what, claim) in [
            ("the other share", share(1 - p)),
            ("a value off by one", off),
        ] {
            let mut bad = want.clone();
            bad[2] = commit(salt, &claim).expect("commit");
            assert!(mock(&c, bad).is_err(), "{what} accepted");
        }
    }
}

/// A part of a softmax split by rows: the tiny transformer's second attention softmax (`[1, 4, 4]`, rows along
/// axis 1) in 2 parts. Each part slices its 2 rows of the input it reads whole (its input commitment covers the
/// boundary before the softmax) and proves their softmax: the honest part passes; the other part's rows, the
/// unnormalised input rows and a value off by one as its output, and an input changed in its own rows or in the
/// other part's, are rejected.
#[test]
fn a_part_of_a_softmax_split_by_rows_proves_its_rows_and_no_other() {
    let RowSplit {
        m,
        full,
        sec,
        limit,
        honest,
        flat,
        x,
    } = RowSplit::of(27, "Softmax", 0);
    assert_eq!(limit, 4);
    let value = |t: i64| full.tensor(t).expect("tensor").data().to_vec();
    let share = |p: usize| value(m.layers()[sec.part(p).1 - 1].outputs[0]);
    // The softmax looks its exponentials up: a layout with function slots.
    let with_functions = LayoutParams {
        fn_slots: 2,
        ..layout()
    };
    for p in 0..2 {
        let c = row_part((&m, &sec, with_functions), p, &honest).expect("witness");
        let salt = Fr::from(11 + p as u64);
        let want = part_instances(&flat, salt, &share(p));
        let rows = value(m.layers()[sec.part(p).0].outputs[0]);
        let mut off = share(p);
        off[5] += 1;
        proves_its_share_alone(
            &c,
            &want,
            salt,
            [
                ("the other part's rows", share(1 - p)),
                ("its input rows unnormalised", rows),
                ("a value off by one", off),
            ],
        );
        // Proven from other inputs than the boundary holds: one value of its own rows (row 2p of axis 1,
        // flat index 8p), or of the other part's (flat index 8(1 − p)), changed. The witness is the part's
        // honest softmax of what it was given; the commitment to the true boundary rejects it.
        rejects_a_changed_operand(
            (&m, &sec, with_functions),
            p,
            (&honest, x),
            [8 * p, 8 * (1 - p)],
            &want,
        );
    }
}

/// The tiny transformer with layer `layer` (of kind `kind`, split by rows) split into 2 parts, each carrying the
/// `tail` layers after it.
struct RowSplit {
    /// The split model.
    m: Arc<Model>,
    /// Its forward pass on the shipped input.
    full: dzk_ir::Trace,
    /// The split layer's parts.
    sec: dzk_ir::Section,
    /// The rows the layer splits into at most.
    limit: usize,
    /// What every part reads: the boundary before the split, as the forward pass computed it.
    honest: Vec<(i64, dzk_ir::Tensor)>,
    /// Its values, flat, in boundary order (what the input commitment covers).
    flat: Vec<i64>,
    /// The layer's first operand, read from that boundary and sliced by every part.
    x: i64,
}

impl RowSplit {
    fn of(layer: usize, kind: &str, tail: usize) -> Self {
        let mut limit = 0;
        let (m, full, sections) = tiny_split(
            |orig| {
                assert_eq!(orig.layers()[layer].layer_type, kind);
                assert!(orig.splits_by_rows(layer), "{kind}");
                limit = orig.split_limit(layer).expect("splits");
                vec![dzk_ir::SplitAt {
                    layer,
                    parts: 2,
                    tail,
                }]
            },
            false,
        );
        let sec = sections[0];
        assert!(sec.sliced && sec.tail == tail);
        let live = m.live_at(sec.start);
        let x = m.layers()[sec.start].inputs[0];
        assert!(
            live.contains(&x),
            "{kind}: the parts read the operand from the boundary"
        );
        let honest: Vec<(i64, dzk_ir::Tensor)> = live
            .iter()
            .map(|&t| (t, full.tensor(t).expect("live").clone()))
            .collect();
        let flat = honest.iter().flat_map(|(_, t)| t.data().to_vec()).collect();
        Self {
            m,
            full,
            sec,
            limit,
            honest,
            flat,
            x,
        }
    }
}

/// Part `p` of the row split `sec` of `m` under `params`: reading the whole boundary before the split (one group,
/// input salt 7) from `given`, committing to its share of the output under salt `11 + p`.
fn row_part(
    (m, sec, params): (&Arc<Model>, &dzk_ir::Section, LayoutParams),
    p: usize,
    given: &[(i64, dzk_ir::Tensor)],
) -> Result<ChunkCircuit, dzk_circuit::CircuitError> {
    let (a, b) = sec.part(p);
    let io = ChunkIo {
        groups: vec![InputGroup {
            model_inputs: false,
            tensors: m.live_at(sec.start),
        }],
        outputs: m.layers()[b - 1].outputs.clone(),
        public_outputs: false,
    };
    ChunkCircuit::new(m.clone(), a, b, params)?
        .with_io(io)?
        .with_visibility(HASHED)
        .with_group_inputs(
            &TensorFile::new(given.to_vec()).expect("inputs"),
            &[Fr::from(7)],
            Fr::from(11 + p as u64),
        )
}

/// The instances of a row split's part that reads the boundary `flat` (input salt 7) and commits to `share` under
/// `salt`.
fn part_instances(flat: &[i64], salt: Fr, share: &[i64]) -> Vec<Fr> {
    vec![
        commit(Fr::from(7), flat).expect("commit"),
        commit(salt, share).expect("commit"),
    ]
}

/// A part `c` of a row split, whose honest output is `shares[0]` and the other part's `shares[1]`, committed to
/// under `salt` (`want` its instances): passes, and the other part's rows, its rows in reverse order and its
/// value at `off` off by one are rejected as its output.
fn proves_its_rows_alone(
    c: &ChunkCircuit,
    (want, salt): (&[Fr], Fr),
    shares: [Vec<i64>; 2],
    off: usize,
) {
    let [share, other] = shares;
    assert_ne!(share, other, "the parts' rows differ");
    let mut changed = share.clone();
    changed[off] += 1;
    let mut reversed = share.clone();
    reversed.reverse();
    assert_ne!(reversed, share);
    proves_its_share_alone(
        c,
        want,
        salt,
        [
            ("the other part's rows", other),
            ("its rows in reverse order", reversed),
            ("a value off by one", changed),
        ],
    );
}

/// Part `p` of a row split proven from the boundary `honest` with operand `x` changed at each flat index of `at`
/// (one in its own rows, one in the other part's): the witness is the part's honest output for what it was
/// given, and the commitment to the true boundary (`want[0]`) rejects it.
fn rejects_a_changed_operand(
    part: (&Arc<Model>, &dzk_ir::Section, LayoutParams),
    p: usize,
    (honest, x): (&[(i64, dzk_ir::Tensor)], i64),
    at: [usize; 2],
    want: &[Fr],
) {
    for at in at {
        let mut given = honest.to_vec();
        let i = given.iter().position(|(t, _)| *t == x).expect("x given");
        let mut data = given[i].1.data().to_vec();
        data[at] += 3;
        given[i].1 = dzk_ir::Tensor::new(given[i].1.shape().to_vec(), data).expect("tensor");
        let bad = row_part(part, p, &given).expect("witness");
        let mut claimed = want.to_vec();
        claimed[1] = bad.instances()[1];
        assert!(
            mock(&bad, claimed).is_err(),
            "part {p} proven from an operand changed at {at} accepted"
        );
    }
}

/// The tiny transformer's attention product `A·Bᵀ` (layer 25, `[1, 4, 4]` by `[1, 4, 4]`: one batch, so split by
/// `A`'s rows, `B` read whole) and its residual sum (layer 33, two activations `[1, 4, 8]`, split by position
/// along axis 1), each in 2 parts of 2 rows. Each part reads the whole boundary before the layer (its input
/// commitment covers it) and proves its rows: the honest part passes; the other part's rows, its rows in
/// reverse order and a value off by one as its output, and the part proven from an input changed in its own
/// rows or in the other part's, are rejected.
#[test]
fn a_part_of_a_batched_product_or_an_element_wise_layer_split_by_rows_proves_its_rows_alone() {
    for (layer, kind) in [(25, "BatchMatMul"), (33, "Add")] {
        let RowSplit {
            m,
            full,
            sec,
            limit,
            honest,
            flat,
            x,
        } = RowSplit::of(layer, kind, 0);
        assert_eq!(limit, 4, "rows along axis 1");
        let value = |t: i64| full.tensor(t).expect("tensor").data().to_vec();
        let share = |p: usize| value(m.layers()[sec.part(p).1 - 1].outputs[0]);
        let half = value(x).len() / 2;
        for p in 0..2 {
            let c = row_part((&m, &sec, layout()), p, &honest).expect("witness");
            let salt = Fr::from(11 + p as u64);
            let want = part_instances(&flat, salt, &share(p));
            proves_its_rows_alone(&c, (&want, salt), [share(p), share(1 - p)], 3);
            // Proven from an operand changed in its own rows (the first half of axis 1 for part 0) or in the
            // other part's.
            rejects_a_changed_operand(
                (&m, &sec, layout()),
                p,
                (&honest, x),
                [half * p, half * (1 - p)],
                &want,
            );
        }
    }
}

/// A part of the tiny transformer's second attention head split by `Q·Kᵀ`'s rows, carrying the scale, the softmax
/// and the product with `V` (layers 25 to 28, `V` read whole): each part proves its 2 rows of `softmax(Q·Kᵀ·c)·V`
/// from the boundary before `Q·Kᵀ`. The honest part passes; the other part's rows, its rows reversed and a value
/// off by one as its output are rejected, and so is the part proven from a `Q` changed in its own rows or the
/// other part's, or from a `V` changed in either half.
#[test]
fn a_row_split_part_carrying_the_softmax_and_the_product_with_v_proves_its_rows_alone() {
    let RowSplit {
        m,
        full,
        sec,
        limit,
        honest,
        flat,
        x,
    } = RowSplit::of(25, "BatchMatMul", 3);
    assert_eq!(limit, 4);
    let types: Vec<&str> = (sec.part(0).0..sec.part(0).1)
        .map(|l| m.layers()[l].layer_type.as_str())
        .collect();
    assert_eq!(
        types,
        ["Slice", "BatchMatMul", "Mul", "Softmax", "BatchMatMul"]
    );
    // `V`: the second operand of the part's last layer, read from the boundary.
    let v = m.layers()[sec.part(0).1 - 1].inputs[1];
    assert!(honest.iter().any(|(t, _)| *t == v), "V read whole");
    let value = |t: i64| full.tensor(t).expect("tensor").data().to_vec();
    let share = |p: usize| value(m.layers()[sec.part(p).1 - 1].outputs[0]);
    let half = value(x).len() / 2;
    let with_functions = LayoutParams {
        fn_slots: 2,
        ..layout()
    };
    for p in 0..2 {
        let c = row_part((&m, &sec, with_functions), p, &honest).expect("witness");
        let salt = Fr::from(11 + p as u64);
        let want = part_instances(&flat, salt, &share(p));
        proves_its_rows_alone(&c, (&want, salt), [share(p), share(1 - p)], 2);
        rejects_a_changed_operand(
            (&m, &sec, with_functions),
            p,
            (&honest, x),
            [half * p, half * (1 - p)],
            &want,
        );
        rejects_a_changed_operand(
            (&m, &sec, with_functions),
            p,
            (&honest, v),
            [1, half + 2],
            &want,
        );
    }
}
