//! What the importer checks of a parsed ONNX protobuf before tract's analyser sees it.
//!
//! tract's shape inference trusts attribute values and constant operands: a `LayerNormalization` whose `axis`
//! is −2^38 sends its rules round a loop of 2^64 steps, and a `ConstantOfShape` or `Range` over a constant of
//! absurd size allocates it. Fuzzing found the first (a CI run spent an hour on one mutated file), so every
//! attribute and every constant that sets a folded tensor's size is bounded here, and such a file is an error
//! naming the node.

use tract_onnx::pb;

use crate::graph::node_name;

/// The largest rank a model may use; an axis attribute lies in `[-MAX_RANK, MAX_RANK)`.
const MAX_RANK: i64 = 64;
/// The largest magnitude of any other integer attribute (sizes, strides, pads, flags).
const MAX_INT: i64 = 1 << 31;
/// The most entries of a list attribute.
const MAX_LIST: usize = 1 << 10;
/// Attributes that name axes (a rank-sized loop in the analyser runs to them).
const AXIS_ATTRIBUTES: &[&str] = &["axis", "axes", "perm"];

/// The number of values of a tensor of `dims`, `None` if a dimension is negative or the count overflows.
fn count(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |a, &d| {
        u64::try_from(d).ok().and_then(|d| a.checked_mul(d))
    })
}

/// Why a tensor of `dims` is too large to import, if it is.
fn too_large(dims: &[i64], max_values: usize) -> Option<String> {
    match count(dims) {
        None => Some(format!("dimensions {dims:?} are negative or overflow")),
        Some(n) if n > max_values as u64 => Some(format!(
            "dimensions {dims:?} hold {n} values, more than the {max_values} an import handles"
        )),
        Some(_) => None,
    }
}

/// The integer values of a constant tensor, where the file gives them in place.
fn int_values(t: &pb::TensorProto) -> Option<Vec<i64>> {
    if !t.int64_data.is_empty() {
        return Some(t.int64_data.clone());
    }
    if !t.int32_data.is_empty() {
        return Some(t.int32_data.iter().map(|&v| i64::from(v)).collect());
    }
    let raw = &t.raw_data;
    match t.data_type {
        // INT64
        7 if raw.len().is_multiple_of(8) => Some(
            raw.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
        // INT32
        6 if raw.len().is_multiple_of(4) => Some(
            raw.chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))))
                .collect(),
        ),
        _ => None,
    }
}

/// Checks every node's attributes, every constant's dimensions, and the constant operands that set the size of
/// what tract folds (`ConstantOfShape`'s shape, `Expand`'s shape, `Range`'s bounds). `Err` is ((node, op), what
/// is wrong); `None` for an initializer, which the message names.
pub(crate) type Refusal = (Option<(String, String)>, String);

/// See [`Refusal`].
pub(crate) fn check(graph: &pb::GraphProto, max_values: usize) -> Result<(), Refusal> {
    for t in &graph.initializer {
        if let Some(why) = too_large(&t.dims, max_values) {
            return Err((None, format!("initializer '{}': {why}", t.name)));
        }
    }
    let mut constants: std::collections::HashMap<&str, &pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    for (i, n) in graph.node.iter().enumerate() {
        let at = |why: String| Err((Some((node_name(n, i), n.op_type.clone())), why));
        for a in &n.attribute {
            let axis = AXIS_ATTRIBUTES.contains(&a.name.as_str());
            let bound = if axis { MAX_RANK } else { MAX_INT };
            if !(-bound..bound).contains(&a.i) {
                return at(format!("attribute '{}' = {} is out of range", a.name, a.i));
            }
            if a.ints.len() > MAX_LIST {
                return at(format!(
                    "attribute '{}' lists {} values",
                    a.name,
                    a.ints.len()
                ));
            }
            if let Some(v) = a.ints.iter().find(|v| !(-bound..bound).contains(*v)) {
                return at(format!("attribute '{}' holds {v}, out of range", a.name));
            }
            for t in a.t.iter().chain(&a.tensors) {
                if let Some(why) = too_large(&t.dims, max_values) {
                    return at(format!("attribute '{}': {why}", a.name));
                }
            }
        }
        if n.op_type == "Constant" {
            if let (Some(out), Some(t)) = (
                n.output.first(),
                n.attribute
                    .iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.as_ref()),
            ) {
                constants.insert(out.as_str(), t);
            }
        }
        let operand = |k: usize| {
            n.input
                .get(k)
                .and_then(|v| constants.get(v.as_str()))
                .and_then(|t| int_values(t))
        };
        match n.op_type.as_str() {
            "ConstantOfShape" | "Expand" => {
                let k = usize::from(n.op_type == "Expand");
                if let Some(dims) = operand(k) {
                    if let Some(why) = too_large(&dims, max_values) {
                        return at(format!("its shape operand: {why}"));
                    }
                }
            }
            "Range" => {
                if let (Some(s), Some(l), Some(d)) = (operand(0), operand(1), operand(2)) {
                    if let ([s], [l], [d]) = (&s[..], &l[..], &d[..]) {
                        let steps = if *d == 0 {
                            None
                        } else {
                            (i128::from(*l) - i128::from(*s)).checked_div(i128::from(*d))
                        };
                        if steps.is_none_or(|n| n > max_values as i128) {
                            return at(format!(
                                "Range({s}, {l}, {d}) is empty-stepped or holds more than {max_values} values"
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.into(),
            name: format!("{op}0"),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec!["y".into()],
            attribute: attrs,
            ..Default::default()
        }
    }

    fn int(name: &str, i: i64) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            i,
            ..Default::default()
        }
    }

    fn ints64(name: &str, dims: Vec<i64>, values: Vec<i64>) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims,
            data_type: 7,
            int64_data: values,
            ..Default::default()
        }
    }

    fn graph(nodes: Vec<pb::NodeProto>, init: Vec<pb::TensorProto>) -> pb::GraphProto {
        pb::GraphProto {
            node: nodes,
            initializer: init,
            ..Default::default()
        }
    }

    #[test]
    fn an_axis_far_outside_any_rank_is_refused_and_a_real_one_passes() {
        let ok = graph(vec![node("Softmax", &["x"], vec![int("axis", -1)])], vec![]);
        assert!(check(&ok, 1 << 20).is_ok());
        let bad = graph(
            vec![node(
                "LayerNormalization",
                &["x"],
                vec![int("axis", -274_877_906_945)],
            )],
            vec![],
        );
        let (n, why) = check(&bad, 1 << 20).expect_err("refused");
        assert_eq!(
            n,
            Some(("LayerNormalization0".into(), "LayerNormalization".into()))
        );
        assert!(why.contains("'axis'"), "{why}");
        let big = graph(
            vec![node("Conv", &["x"], vec![int("group", 1 << 40)])],
            vec![],
        );
        assert!(check(&big, 1 << 20).is_err());
    }

    #[test]
    fn constants_of_absurd_size_are_refused_before_tract_folds_them() {
        let shape = ints64("s", vec![2], vec![1 << 20, 1 << 20]);
        let g = graph(
            vec![node("ConstantOfShape", &["s"], vec![])],
            vec![shape.clone()],
        );
        assert!(check(&g, 1 << 28)
            .expect_err("refused")
            .1
            .contains("shape operand"));
        let small = ints64("s", vec![2], vec![4, 4]);
        let g = graph(vec![node("ConstantOfShape", &["s"], vec![])], vec![small]);
        assert!(check(&g, 1 << 28).is_ok());
        let g = graph(vec![node("Expand", &["x", "s"], vec![])], vec![shape]);
        assert!(check(&g, 1 << 28).is_err());
        let range = vec![
            ints64("a", vec![], vec![0]),
            ints64("b", vec![], vec![1 << 40]),
            ints64("d", vec![], vec![1]),
        ];
        let g = graph(vec![node("Range", &["a", "b", "d"], vec![])], range);
        assert!(check(&g, 1 << 28).expect_err("refused").1.contains("Range"));
        let huge = ints64("w", vec![1 << 20, 1 << 20], vec![]);
        let g = graph(vec![node("Relu", &["x"], vec![])], vec![huge]);
        assert!(check(&g, 1 << 28)
            .expect_err("refused")
            .1
            .contains("initializer 'w'"));
    }
}
