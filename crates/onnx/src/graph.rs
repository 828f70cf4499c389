//! An ONNX graph read with tract: its nodes in file order (a topological order, as ONNX requires), and for
//! every value its concrete shape and, where tract's inference knows it, its constant value.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::ImportError;

/// The opsets of the default domain whose operator semantics the lowering follows.
pub(crate) const OPSETS: std::ops::RangeInclusive<i64> = 11..=21;

/// The largest tensor, in values, an import will handle (a model over it is certainly not provable).
const MAX_VALUES: usize = 1 << 28;

/// A constant known at import time.
#[derive(Clone, Debug)]
pub(crate) struct Const {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// A graph input.
#[derive(Clone, Debug)]
pub(crate) struct Input {
    pub name: String,
    pub shape: Vec<usize>,
}

/// The parsed, analysed graph.
pub(crate) struct Graph {
    pub file: PathBuf,
    pub opset: i64,
    pub nodes: Vec<pb::NodeProto>,
    pub inputs: Vec<Input>,
    pub outputs: Vec<String>,
    shapes: HashMap<String, Vec<usize>>,
    consts: HashMap<String, Const>,
    consumers: HashMap<String, Vec<usize>>,
    /// The float model, for calibration's reference outputs.
    pub(crate) tract: InferenceModel,
}

/// The message a panic carried.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".into())
}

/// Runs `f` (which calls into tract), turning a panic into an error about `path`.
pub(crate) fn guarded<T>(
    path: &Path,
    f: impl FnOnce() -> Result<T, ImportError>,
) -> Result<T, ImportError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(ImportError::Read {
            file: path.to_path_buf(),
            detail: format!(
                "not a well-formed ONNX model (tract failed reading it: {})",
                panic_message(p.as_ref())
            ),
        })
    })
}

/// A node's display name: its own, else its first output's, else its position and op.
pub(crate) fn node_name(n: &pb::NodeProto, i: usize) -> String {
    if !n.name.is_empty() {
        n.name.clone()
    } else if let Some(o) = n.output.first().filter(|o| !o.is_empty()) {
        o.clone()
    } else {
        format!("#{i} {}", n.op_type)
    }
}

fn fact_shape(fact: &InferenceFact) -> Option<Vec<usize>> {
    fact.shape
        .as_concrete_finite()
        .ok()
        .flatten()
        .map(|s| s.to_vec())
}

fn to_const(t: &Tensor) -> Option<Const> {
    let values = t.cast_to::<f64>().ok()?.as_slice::<f64>().ok()?.to_vec();
    Some(Const {
        shape: t.shape().to_vec(),
        values,
    })
}

/// [`analysed`], made safe against tract's one known hang: its `LayerNormalization` rules loop over
/// `0..(axis + rank) as usize`, 2^64 steps for an axis below -rank (fuzzing found it). A graph with such nodes
/// is analysed first with every axis at 0 (no shape depends on it), each axis is checked against its input's
/// rank, and only then is the model analysed as it is.
fn analysed_safely(
    onnx: &tract_onnx::Onnx,
    proto: &pb::ModelProto,
    path: &Path,
    input_shapes: &[Vec<usize>],
) -> Result<tract_onnx::model::ParseResult, ImportError> {
    let is_norm = |n: &pb::NodeProto| n.op_type == "LayerNormalization";
    let Some(graph) = proto.graph.as_ref().filter(|g| g.node.iter().any(is_norm)) else {
        return analysed(onnx, proto, path, input_shapes);
    };
    let mut safe = proto.clone();
    for n in safe.graph.iter_mut().flat_map(|g| &mut g.node) {
        if is_norm(n) {
            n.attribute.retain(|a| a.name != "axis");
            n.attribute.push(pb::AttributeProto {
                name: "axis".into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: 0,
                ..Default::default()
            });
        }
    }
    let first = analysed(onnx, &safe, path, input_shapes)?;
    for (i, n) in graph.node.iter().enumerate().filter(|(_, n)| is_norm(n)) {
        let axis = n
            .attribute
            .iter()
            .find(|a| a.name == "axis")
            .map_or(-1, |a| a.i);
        let rank = n
            .input
            .first()
            .and_then(|v| first.outlets_by_name.get(v))
            .and_then(|o| first.model.outlet_fact(*o).ok())
            .and_then(|f| f.shape.rank().concretize());
        if let Some(rank) = rank.filter(|r| !(-r..*r).contains(&axis)) {
            return Err(ImportError::Node {
                file: path.to_path_buf(),
                node: node_name(n, i),
                op: n.op_type.clone(),
                detail: format!("axis {axis} is outside its input's rank {rank}"),
            });
        }
    }
    analysed(onnx, proto, path, input_shapes)
}

/// tract's model of `proto`, its inputs' shapes replaced by `input_shapes` (if any), analysed.
fn analysed(
    onnx: &tract_onnx::Onnx,
    proto: &pb::ModelProto,
    path: &Path,
    input_shapes: &[Vec<usize>],
) -> Result<tract_onnx::model::ParseResult, ImportError> {
    let bad = |detail: String| ImportError::Model {
        file: path.to_path_buf(),
        detail,
    };
    let mut parsed = onnx
        .parse(proto, path.parent().and_then(Path::to_str))
        .map_err(|e| ImportError::Read {
            file: path.to_path_buf(),
            detail: format!("tract cannot read the graph: {e:#}"),
        })?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(bad(format!(
            "values {:?} are read but never defined",
            parsed.unresolved_inputs
        )));
    }
    let model = &mut parsed.model;
    let sources = model.input_outlets().map_err(|e| bad(e.to_string()))?.len();
    if !input_shapes.is_empty() && input_shapes.len() != sources {
        return Err(bad(format!(
            "--input-shape was given {} times but the model has {sources} inputs",
            input_shapes.len(),
        )));
    }
    for (i, shape) in input_shapes.iter().enumerate() {
        model
            .set_input_fact(i, InferenceFact::dt_shape(f32::datum_type(), shape.clone()))
            .map_err(|e| bad(format!("input {i}: {e}")))?;
    }
    model
        .analyse(false)
        .map_err(|e| bad(format!("shape inference failed: {e:#}")))?;
    Ok(parsed)
}

impl Graph {
    /// Reads and analyses `path`; `input_shapes` (if not empty) replaces the declared input shapes. tract panics
    /// on some malformed files (found by fuzzing); such a panic is this file's error, not the program's.
    pub fn load(path: &Path, input_shapes: &[Vec<usize>]) -> Result<Self, ImportError> {
        guarded(path, || Self::load_unguarded(path, input_shapes))
    }

    fn load_unguarded(path: &Path, input_shapes: &[Vec<usize>]) -> Result<Self, ImportError> {
        let file = path.to_path_buf();
        let read = |detail: String| ImportError::Read {
            file: file.clone(),
            detail,
        };
        let bad = |detail: String| ImportError::Model {
            file: file.clone(),
            detail,
        };
        let bytes = std::fs::read(path).map_err(|e| read(format!("cannot read: {e}")))?;
        if bytes.is_empty() {
            return Err(read("the file is empty".into()));
        }
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| read(format!("not an ONNX model ({e})")))?;
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| read("not an ONNX model (it has no graph)".into()))?;
        if graph.node.is_empty() {
            return Err(read("not an ONNX model (its graph has no nodes)".into()));
        }
        let opset = proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .ok_or_else(|| bad("the model imports no opset of the default ONNX domain".into()))?;
        if !OPSETS.contains(&opset) {
            return Err(bad(format!(
                "opset {opset} is not supported (dzk imports opsets {}..={}; re-export with one of them, e.g. \
                 torch.onnx.export(..., opset_version=17))",
                OPSETS.start(),
                OPSETS.end()
            )));
        }
        if let Some(o) = proto
            .opset_import
            .iter()
            .find(|o| !(o.domain.is_empty() || o.domain == "ai.onnx"))
        {
            if let Some(n) = graph.node.iter().find(|n| n.domain == o.domain) {
                return Err(ImportError::Unsupported {
                    file,
                    node: node_name(n, 0),
                    op: format!("{}::{}", n.domain, n.op_type),
                    hint: "operators outside the default ONNX domain have no lowering; export with standard \
                           operators"
                        .into(),
                });
            }
        }
        // Refuse what has no lowering before tract sees it, so the error names the node and a rewrite.
        for (i, n) in graph.node.iter().enumerate() {
            if let Some(hint) = crate::lower::unsupported(&n.op_type) {
                return Err(ImportError::Unsupported {
                    file,
                    node: node_name(n, i),
                    op: n.op_type.clone(),
                    hint,
                });
            }
        }

        // Bound what tract's analyser would loop over or allocate (fuzzing found both).
        if let Err((node, detail)) = crate::precheck::check(graph, MAX_VALUES) {
            return Err(match node {
                Some((node, op)) => ImportError::Node {
                    file,
                    node,
                    op,
                    detail,
                },
                None => bad(detail),
            });
        }

        let mut parsed = analysed_safely(&onnx, &proto, path, input_shapes)?;
        let model = &mut parsed.model;
        let sources = model
            .input_outlets()
            .map_err(|e| bad(e.to_string()))?
            .to_vec();

        let mut inputs = Vec::new();
        for (i, o) in sources.iter().enumerate() {
            let name = model.node(o.node).name.clone();
            let fact = model.outlet_fact(*o).map_err(|e| bad(e.to_string()))?;
            let shape = fact_shape(fact).ok_or_else(|| {
                bad(format!(
                    "input '{name}' has an open shape ({:?}); give it with --input-shape (one per input, in order), \
                     e.g. --input-shape 1,3,32,32",
                    fact.shape
                ))
            })?;
            if let Some(dt) = fact.datum_type.concretize() {
                if !dt.is_float() {
                    return Err(bad(format!(
                        "input '{name}' is of type {dt:?}; dzk's models take real-valued inputs"
                    )));
                }
            }
            if i >= input_shapes.len() && shape.iter().product::<usize>() > MAX_VALUES {
                return Err(bad(format!(
                    "input '{name}' of shape {shape:?} is too large"
                )));
            }
            inputs.push(Input { name, shape });
        }

        let mut shapes = HashMap::new();
        let mut consts = HashMap::new();
        for (name, outlet) in &parsed.outlets_by_name {
            let Ok(fact) = model.outlet_fact(*outlet) else {
                continue;
            };
            if let Some(s) = fact_shape(fact) {
                if s.iter()
                    .try_fold(1usize, |a, &d| a.checked_mul(d))
                    .is_none_or(|n| n > MAX_VALUES)
                {
                    return Err(bad(format!("value '{name}' of shape {s:?} is too large")));
                }
                shapes.insert(name.clone(), s);
            }
            if let Some(t) = fact.value.concretize() {
                if let Some(c) = to_const(&t) {
                    consts.insert(name.clone(), c);
                }
            }
        }
        let inputs_named: HashSet<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        consts.retain(|k, _| !inputs_named.contains(k.as_str()));

        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            for v in n.input.iter().filter(|v| !v.is_empty()) {
                consumers.entry(v.clone()).or_default().push(i);
            }
        }
        let outputs = graph.output.iter().map(|o| o.name.clone()).collect();
        Ok(Self {
            file,
            opset,
            nodes: graph.node.clone(),
            inputs,
            outputs,
            shapes,
            consts,
            consumers,
            tract: parsed.model,
        })
    }

    /// The concrete shape of a value.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.shapes.get(name).map(Vec::as_slice)
    }

    /// The value of a constant (an initializer, a `Constant` node, or what tract folded).
    pub fn constant(&self, name: &str) -> Option<&Const> {
        self.consts.get(name)
    }

    /// The one node that reads `value`, if exactly one does and it is not a graph output.
    pub fn sole_consumer(&self, value: &str) -> Option<usize> {
        if self.outputs.iter().any(|o| o == value) {
            return None;
        }
        match self.consumers.get(value).map(Vec::as_slice) {
            Some([one]) => Some(*one),
            _ => None,
        }
    }
}
