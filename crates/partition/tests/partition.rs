//! The partitioner on MNIST (and a chain of fully connected layers): its cuts are optimal under its cost model
//! (checked by brute force), `--max-k` makes the fewest chunks that fit, and impossible requests are errors.

use std::path::PathBuf;
use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, CostModel, Limit, Visibility};
use dzk_ir::Model;
use dzk_partition::{cut, Bound, PartitionError};

fn mnist() -> Arc<Model> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/models/zkml/mnist/model.msgpack");
    Arc::new(Model::load(&p).expect("mnist"))
}

/// Every slice's rows that set its `k` (the cost model's `need`), computed once: `table[a][b]`.
fn costs(m: &Arc<Model>) -> Vec<Vec<usize>> {
    let cost = CostModel::new(m).expect("cost model");
    let n = m.layers().len();
    (0..n)
        .map(|a| {
            (0..=n)
                .map(|b| if b <= a { 0 } else { cost.need(a, b) })
                .collect()
        })
        .collect()
}

fn worst(t: &[Vec<usize>], cuts: &[(usize, usize)]) -> usize {
    cuts.iter().map(|&(a, b)| t[a][b]).max().expect("chunks")
}

#[test]
fn chunk_cuts_are_contiguous_and_as_balanced_as_any() {
    let m = mnist();
    let n = m.layers().len();
    let t = costs(&m);
    for chunks in [1, 2, 3] {
        let cuts = cut(&m, Bound::Chunks(chunks)).expect("cut");
        assert_eq!(cuts.len(), chunks);
        assert_eq!(cuts[0].0, 0);
        assert_eq!(cuts[chunks - 1].1, n);
        assert!(cuts.windows(2).all(|w| w[0].1 == w[1].0 && w[0].0 < w[0].1));
        // Brute force over every way of cutting into this many chunks.
        let mut best = usize::MAX;
        let mut bounds = vec![0usize; chunks + 1];
        bounds[chunks] = n;
        fn search(t: &[Vec<usize>], bounds: &mut [usize], at: usize, best: &mut usize) {
            let chunks = bounds.len() - 1;
            if at == chunks {
                let cuts: Vec<_> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
                *best = (*best).min(worst(t, &cuts));
                return;
            }
            for b in bounds[at - 1] + 1..=bounds[chunks] - (chunks - at) {
                bounds[at] = b;
                search(t, bounds, at + 1, best);
            }
        }
        if chunks == 1 {
            best = t[0][n];
        } else {
            search(&t, &mut bounds, 1, &mut best);
        }
        assert_eq!(worst(&t, &cuts), best, "{chunks} chunks: {cuts:?}");
    }
}

/// Sixteen fully connected layers of width 32 in a chain: every layer costs about the same, so a bound below
/// the whole model's `k` cuts it into several chunks. (MNIST's first layer alone needs the whole model's `k`.)
fn fc_chain() -> Arc<Model> {
    use serde_json::json;
    let mut tensors = Vec::new();
    let mut layers = Vec::new();
    for i in 0..16i64 {
        let (x, w, b, y) = (100 + i, 200 + 2 * i, 201 + 2 * i, 101 + i);
        let data: Vec<i64> = (0..32 * 32).map(|j| (j * 7 + i) % 17 - 8).collect();
        tensors.push(json!({"idx": w, "shape": [32, 32], "data": data}));
        tensors.push(json!({"idx": b, "shape": [32], "data": vec![i; 32]}));
        layers.push(json!({"layer_type": "FullyConnected", "params": [1], "inp_idxes": [x, w, b],
            "inp_shapes": [[1, 32], [32, 32], [32]], "out_idxes": [y], "out_shapes": [[1, 32]], "mask": []}));
    }
    let m = json!({"global_sf": 16, "k": 12, "num_cols": 6, "inp_idxes": [100], "out_idxes": [116],
        "tensors": tensors, "layers": layers});
    Arc::new(
        Model::from_msgpack(
            &rmp_serde::to_vec_named(&m).expect("encode"),
            "fc-chain.msgpack",
        )
        .expect("model"),
    )
}

/// A residual stream of `[1, 64, 768]`, as GPT-2's: each layer adds the previous output to the stream, so every
/// cut holds two such tensors (98,304 values to hash in and out).
fn stream() -> Arc<Model> {
    use serde_json::json;
    let shape = [1, 64, 768];
    let layers: Vec<_> = (0..3i64)
        .map(|i| {
            json!({"layer_type": "Add", "params": [], "inp_idxes": [10 + i, 0],
                "inp_shapes": [shape, shape], "out_idxes": [11 + i], "out_shapes": [shape], "mask": []})
        })
        .collect();
    let m = json!({"global_sf": 16, "k": 12, "num_cols": 6, "inp_idxes": [0, 10], "out_idxes": [13],
        "tensors": [], "layers": layers});
    Arc::new(
        Model::from_msgpack(
            &rmp_serde::to_vec_named(&m).expect("encode"),
            "stream.msgpack",
        )
        .expect("model"),
    )
}

/// Wide layouts hold a layer that fits nothing else (a residual stream's layer within `2^16` rows), and never
/// take a slice that narrower layouts hold: a bound where every layer fits them plans as it did without them.
#[test]
fn wide_layouts_hold_only_what_fits_nothing_else() {
    let m = stream();
    let n = m.layers().len();
    let wide = CostModel::wide_layouts(&m);
    let limit = Limit::k(16);
    let cost = CostModel::new_for(&m, Some(limit), Visibility::default()).expect("cost model");
    let plain = CostModel::new_for(&m, None, Visibility::default()).expect("cost model");
    // Without the wide layouts no layer fits 2^16 rows alone.
    assert!((0..n).all(|l| !plain.fits(l, l + 1, limit)));
    let cuts = cut(&m, Bound::MaxK(16)).expect("cut");
    for &(a, b) in &cuts {
        let (layout, k, _) = cost.best_layout(a, b, Some(limit)).expect("fits");
        assert!(
            k <= 16 && wide.contains(&layout),
            "{a}..{b}: {layout:?} at k = {k}"
        );
    }
    // Twice the bound's rows: the reference layouts hold the model, so no slice is weighed under a wide one.
    let (loose, k) = (Limit::k(18), 18);
    let cost = CostModel::new_for(&m, Some(loose), Visibility::default()).expect("cost model");
    assert!(cost.layouts().iter().any(|l| wide.contains(l)), "counted");
    for a in 0..n {
        for b in a + 1..=n {
            if let Some((layout, _, _)) = cost.best_layout(a, b, Some(loose)) {
                assert!(!wide.contains(&layout), "{a}..{b} at k = {k}: {layout:?}");
            }
        }
    }
    assert_eq!(
        cut(&m, Bound::MaxK(18)).expect("cut"),
        dzk_partition::cut_with(&plain, n, Bound::MaxK(18)).expect("cut")
    );
}

#[test]
fn max_k_makes_the_fewest_chunks_that_fit() {
    let mut cut_up = 0;
    for m in [mnist(), fc_chain()] {
        let n = m.layers().len();
        let cost = CostModel::new(&m).expect("cost model");
        let whole = cost.min_k(0, n);
        // A bound the whole model meets: one chunk, and its layout is within the bound.
        assert_eq!(cut(&m, Bound::MaxK(whole)).expect("cut"), vec![(0, n)]);
        assert!(
            ChunkCircuit::fit_within(m.clone(), 0, n, Some(Limit::k(whole)))
                .expect("fit")
                .min_k()
                <= whole
        );
        let widest = (0..n).map(|i| cost.min_k(i, i + 1)).max().expect("layers");
        if widest >= whole {
            // Nothing between (a single layer can need more than the whole model: its boundary is larger): a
            // tighter bound is refused.
            assert!(matches!(
                cut(&m, Bound::MaxK(whole - 1)),
                Err(PartitionError::TooBig { .. })
            ));
            continue;
        }
        let bound = whole - 1;
        let cuts = cut(&m, Bound::MaxK(bound)).expect("cut");
        assert!(cuts.len() >= 2, "{cuts:?}");
        cut_up += 1;
        for &(a, b) in &cuts {
            assert!(cost.min_k(a, b) <= bound);
            // The plan's layout search finds a layout within the bound for every chunk.
            let c = ChunkCircuit::fit_within(m.clone(), a, b, Some(Limit::k(bound))).expect("fit");
            assert!(c.min_k() <= bound);
        }
        // Each chunk reaches as far as fits: no longer slice from its start fits.
        for &(a, b) in &cuts {
            assert!((b + 1..=n).all(|e| cost.min_k(a, e) > bound), "{a}..{b}");
        }
    }
    assert!(cut_up >= 1, "no model was cut into several chunks");
}

/// A memory bound: a slice fits exactly when one of the layouts (reference, wide and narrow), at its smallest `k`,
/// needs no more than the bound by the estimate; the narrow layouts it brings need less than the reference ones at the same `k`; and a bound
/// no layer meets is refused, saying so.
#[test]
fn a_memory_bound_holds_every_chunk_within_it_by_the_estimate() {
    let m = mnist();
    let n = m.layers().len();
    let limit = |bytes| Limit {
        max_k: 14,
        max_bytes: Some(bytes),
    };
    let cost =
        CostModel::new_for(&m, Some(limit(1 << 40)), Visibility::default()).expect("cost model");
    assert_eq!(
        cost.layouts().len(),
        CostModel::reference_layouts(&m).len()
            + CostModel::narrow_layouts(&m).len()
            + CostModel::wide_layouts(&m).len()
    );
    let least = cost.least_bytes(0, n);
    assert!(cost.fits(0, n, limit(least)));
    assert!(!cost.fits(0, n, limit(least - 1)));
    assert!(!cost.fits(
        0,
        n,
        Limit {
            max_k: cost.min_k(0, n) - 1,
            max_bytes: Some(1 << 40)
        }
    ));
    // Narrow layouts hold fewer columns: less memory at the same k than any reference layout with a matrix
    // check of the same kind (none, or one).
    for narrow in CostModel::narrow_layouts(&m) {
        for wide in CostModel::reference_layouts(&m) {
            if (wide.check_width == 0) == (narrow.check_width == 0) {
                let (a, b) = (
                    dzk_circuit::estimate(narrow, 16).peak_bytes(),
                    dzk_circuit::estimate(wide, 16).peak_bytes(),
                );
                assert!(a < b, "{narrow:?}: {a}, {wide:?}: {b}");
            }
        }
        // The largest k within a bound is the last at which the estimate fits.
        let l = limit(dzk_circuit::estimate(narrow, 12).peak_bytes());
        assert_eq!(l.largest_k(narrow), Some(12));
    }
    match cut(&m, Bound::Within(limit(30 << 20))) {
        Err(e @ PartitionError::TooBig { layer: 0, .. }) => {
            assert!(
                e.to_string().contains("more than --max-memory 30 MiB"),
                "{e}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn impossible_requests_are_errors() {
    let m = mnist();
    assert!(matches!(
        cut(&m, Bound::Chunks(0)),
        Err(PartitionError::Count { .. })
    ));
    assert!(matches!(
        cut(&m, Bound::Chunks(17)),
        Err(PartitionError::Count { .. })
    ));
    assert!(matches!(
        cut(&m, Bound::MaxK(10)),
        Err(PartitionError::TooBig { layer: 0, .. })
    ));
}

/// The parts of a split layer end the plan only when their concatenation is the model's last layer and writes
/// its only output with nothing else live: the wide head's split does; the wide MLP's (its parts feed another
/// layer, and its input is still needed) does not.
#[test]
fn only_a_split_last_layer_states_the_outputs_in_parts() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models");
    for (name, layer, ends) in [
        ("wide_head.msgpack", 1, true),
        ("wide_mlp.msgpack", 0, false),
    ] {
        let bytes = std::fs::read(root.join(name)).expect("model");
        let at = [dzk_ir::SplitAt {
            layer,
            parts: 3,
            tail: Model::from_msgpack(&bytes, name)
                .expect("model")
                .channel_tail(layer),
        }];
        let split = Model::split_layers_with_tails(&bytes, name, &at).expect("split");
        let m = Model::from_msgpack(&split.bytes, name).expect("split model");
        assert_eq!(
            dzk_partition::output_section(&m, &split.sections).is_some(),
            ends,
            "{name}"
        );
    }
}

/// MNIST at `--max-k 11`: both convolutions are split (each with its pooling and per-channel scale), and the
/// second's parts read the first's parts directly (no chunk only joins them): each reads every part of the
/// first, the chunk after the second's parts reads those alone, every chunk fits `2^11` rows, and the plan's
/// edges check. Without the chaining the chunk joining the first convolution's parts did not fit `2^11` at all.
#[test]
fn consecutive_splits_read_each_others_parts() {
    let m = mnist();
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/models/zkml/mnist/model.msgpack");
    let bytes = std::fs::read(&p).expect("mnist");
    let cost = CostModel::new(&m).expect("cost model");
    let parted = dzk_partition::partition(
        m,
        &bytes,
        "mnist",
        cost,
        Bound::MaxK(11),
        Visibility::default(),
    )
    .expect("plan");
    assert_eq!(parted.splits.len(), 2, "{:?}", parted.splits);
    assert!(!parted.splits[0].reads_parts && parted.splits[1].reads_parts);
    let (s0, s1) = (parted.sections[0], parted.sections[1]);
    assert!(!s0.joined && s1.lead && s1.joined);
    let roles = dzk_partition::roles(&parted.model, &parted.cuts, &parted.sections);
    let first_parts: Vec<u32> = (1..=s0.parts as u32).collect();
    for p in 0..s1.parts {
        let i = s0.parts + p;
        assert_eq!(parted.cuts[i], s1.part(p));
        assert_eq!(
            dzk_partition::sources(roles[i]),
            first_parts,
            "part {p} of the second split reads every part of the first"
        );
        // Its io: one group per part of the first, each that part's pooled output.
        let io = dzk_partition::chunk_io(&parted.model, &parted.cuts, &roles, i);
        assert_eq!(io.groups.len(), s0.parts);
    }
    let join = s0.parts + s1.parts;
    assert_eq!(
        dzk_partition::sources(roles[join]),
        ((s0.parts + 1) as u32..=join as u32).collect::<Vec<_>>(),
        "the chunk after the second split reads its parts alone (nothing from before is live)"
    );
    // No chunk is a concatenation alone.
    for &(a, b) in &parted.cuts {
        assert!(
            !(b == a + 1 && parted.model.layers()[a].layer_type == "Concatenation"),
            "chunk {a}..{b} only joins"
        );
    }
    let vis = dzk_format::run::VisibilitySpec {
        public_input: false,
        public_output: false,
    };
    let plan = dzk_partition::plan(
        &parted.model,
        &parted.cost,
        "mnist",
        &bytes,
        &parted.cuts,
        &parted.sections,
        vis,
        &[],
        parted.limit,
    )
    .expect("plan");
    plan.check().expect("the plan's edges check");
    assert!(
        plan.chunks.iter().all(|c| c.k <= 11),
        "{:?}",
        plan.chunks.iter().map(|c| c.k).collect::<Vec<_>>()
    );
}
