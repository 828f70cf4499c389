//! The plan's checks and the join of the outputs several chunks state.

use dzk_format::run::{ChunkPlan, LayoutSpec, OutputJoin, Plan, TensorSpec, VisibilitySpec};

fn spec(idx: i64, shape: &[usize]) -> TensorSpec {
    TensorSpec {
        idx,
        shape: shape.to_vec(),
    }
}

fn chunk(
    index: u32,
    (start, end): (usize, usize),
    ins: Vec<TensorSpec>,
    outs: Vec<TensorSpec>,
    sources: Vec<u32>,
) -> ChunkPlan {
    ChunkPlan {
        index,
        start,
        end,
        k: 10,
        rows: 100,
        layout: LayoutSpec {
            advice: 8,
            range_bits: 9,
            range_limbs: 3,
            range_slots: 2,
            short_slots: 2,
            hash_lanes: 0,
            fn_slots: 0,
            fn_groups: 1,
            check_width: 0,
        },
        inputs: ins,
        outputs: outs,
        slice_file: format!("chunk-{index}.model.msgpack"),
        slice_blake3: String::new(),
        vk_blake3: None,
        sources,
    }
}

/// A model of 4 layers (a layer, a head split in two parts of widths 2 and 3, their concatenation) over 2 rows:
/// chunk 0 the first layer, chunks 1 and 2 the parts, each reading boundary 1 and stating its share.
fn split_head() -> Plan {
    let h = vec![spec(5, &[2, 4])];
    Plan {
        model_file: "m.msgpack".into(),
        model_blake3: String::new(),
        layers: 4,
        folded_layers: Vec::new(),
        split_layers: Vec::new(),
        visibility: VisibilitySpec {
            public_input: false,
            public_output: true,
        },
        chunks: vec![
            chunk(0, (0, 1), vec![spec(0, &[2, 4])], h.clone(), Vec::new()),
            chunk(1, (1, 2), h.clone(), vec![spec(7, &[2, 2])], vec![1]),
            chunk(2, (2, 3), h, vec![spec(8, &[2, 3])], vec![1]),
        ],
        output_join: Some(OutputJoin {
            chunks: vec![1, 2],
            output: spec(9, &[2, 5]),
        }),
        srs_id: None,
        aggregation_vks: Default::default(),
    }
}

/// The plan's output join.
fn join(p: &mut Plan) -> &mut OutputJoin {
    p.output_join.as_mut().expect("an output join")
}

/// A change to a plan.
type Change = Box<dyn Fn(&mut Plan)>;

#[test]
fn parts_that_state_the_outputs_make_a_consistent_plan() {
    let plan = split_head();
    plan.check().expect("consistent");
    assert_eq!(plan.covered_layers(), 3);
    assert_eq!(plan.output_chunks(), [1, 2]);
    assert!(plan.states_outputs(1) && plan.states_outputs(2) && !plan.states_outputs(0));
    // Row by row: part 0's two values, then part 1's three.
    let joined = plan.join_outputs(&[vec![1, 2, 3, 4], vec![5, 6, 7, 8, 9, 10]]);
    assert_eq!(joined, Some(vec![1, 2, 5, 6, 7, 3, 4, 8, 9, 10]));
    assert_eq!(
        plan.join_outputs(&[vec![1, 2, 3], vec![5, 6, 7, 8, 9, 10]]),
        None
    );
    assert_eq!(plan.join_outputs(&[vec![1, 2, 3, 4]]), None);
    // The digest covers the join.
    let mut other = plan.clone();
    join(&mut other).chunks = vec![2, 1];
    assert_ne!(plan.digest(), other.digest());
}

#[test]
fn a_chain_states_its_outputs_in_its_last_chunk() {
    let mut plan = split_head();
    plan.output_join = None;
    assert_eq!(plan.output_chunks(), [2]);
    assert_eq!(plan.join_outputs(&[vec![1, 2]]), Some(vec![1, 2]));
    // Without the join the chunks must cover every layer, and chunk 1's outputs must be read.
    assert!(plan
        .check()
        .expect_err("unread chunk 1")
        .contains("end at layer 3"));
}

#[test]
fn inconsistent_output_joins_are_refused() {
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|p| join(p).chunks = vec![2, 1]),
            "not the plan's last",
        ),
        (
            Box::new(|p| join(p).chunks = vec![2]),
            "not the plan's last",
        ),
        (Box::new(|p| join(p).output.shape = vec![2, 6]), "5 wide"),
        (
            Box::new(|p| join(p).output.shape = vec![3, 5]),
            "does not write one tensor",
        ),
        (
            Box::new(|p| p.chunks[2].outputs.push(spec(10, &[2, 1]))),
            "does not write one tensor",
        ),
        (Box::new(|p| p.chunks[2].end = 4), "end at layer 4"),
        (
            Box::new(|p| p.chunks[2].sources = vec![2]),
            "are not what its boundaries",
        ),
    ];
    for (change, want) in cases {
        let mut plan = split_head();
        change(&mut plan);
        let err = plan.check().expect_err(want);
        assert!(err.contains(want), "{err} (wanted {want})");
    }
}
