//! Lowering ONNX nodes to zkml layers: the shared machinery, the operator table and the dispatch; each
//! operator family has its own module.

mod elementwise;
mod linear;
mod reduce;
mod shape;

use std::collections::{BTreeMap, HashMap, HashSet};

use dzk_ir::{Model, ModelWriter, Tensor};
use tract_onnx::pb;

use crate::graph::{node_name, Const, Graph};
use crate::{ImportError, Options};

/// Every supported ONNX operator and how it is lowered (docs/onnx.md carries the same table with the test
/// models that cover each).
pub const OPERATORS: &[(&str, &str)] = &[
    ("Conv", "Conv2D (groups 1) or depthwise Conv2D (groups = channels, any multiplier), NHWC inside; explicit pads become a Pad layer unless they equal zkml's SAME; a following BatchNormalization is folded in and a Relu or Clip(0, 6) fused"),
    ("Gemm", "FullyConnected (constant B: alpha and beta folded into the weights and bias; activation B: a matrix check), a following Relu fused"),
    ("MatMul", "FullyConnected for a constant operand, FullyConnected or BatchMatMul for two activations (a random-linear-combination check)"),
    ("BatchNormalization", "folded into the preceding Conv, else a per-channel Mul and Add"),
    ("Add", "Add (a following Relu fused)"),
    ("Sub", "Sub"),
    ("Mul", "Mul (rescaled by 2^B)"),
    ("Div", "Div by a constant positive integer, else Mul by the constant's reciprocal; DivVar by one activation value; Sqrt then Div becomes Rsqrt then Mul"),
    ("Neg", "Mul by -1"),
    ("Relu", "fused into the producing Conv, Gemm, MatMul or Add, else Add of 0 with ReLU"),
    ("Clip", "Clip(0, 6) or Clip(0, none) right after a Conv: fused; elsewhere, any constant bounds as hi − relu(hi − (lo + relu(x − lo))), exact"),
    ("Sigmoid", "Logistic table"),
    ("Exp", "the Exp table (e^x at scale sf², values up to 2^26) then Div by sf"),
    ("Tanh", "Tanh table"),
    ("Sqrt", "Sqrt table"),
    ("Pow", "exponent 2: Square; 3: the cube table; 0.5: Sqrt; 1: nothing"),
    ("Erf", "tanh(2/sqrt(pi) * (z + 0.089430 z^3)) (the approximation zkml's GELU uses)"),
    ("Gelu", "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"),
    ("Softmax", "Softmax over the last axis (others transposed there)"),
    ("LayerNormalization", "Mean, Sub, Square, Mean, Add eps, Rsqrt table, Mul, then scale and bias (last axis)"),
    ("ReduceMean", "Mean over the reduced axes (transposed last)"),
    ("MaxPool", "MaxPool2D (no padding), NHWC inside"),
    ("AveragePool", "AveragePool2D; padding only with count_include_pad = 1, as a Pad layer"),
    ("GlobalAveragePool", "Mean over H and W"),
    ("GlobalMaxPool", "MaxPool2D over the whole plane"),
    ("Flatten", "Reshape"),
    ("Reshape", "Reshape"),
    ("Squeeze", "Reshape"),
    ("Unsqueeze", "Reshape"),
    ("Transpose", "Transpose"),
    ("Concat", "Concatenation"),
    ("Slice", "Slice (step 1)"),
    ("Split", "one Slice per part"),
    ("Gather", "Slice (scalar index) or Slices and Concatenation (constant index list)"),
    ("Pad", "Pad (constant mode, value 0)"),
    ("Expand", "Broadcast"),
    ("Identity", "nothing (an alias)"),
    ("Dropout", "nothing (inference)"),
    ("Constant", "a constant (folded)"),
    ("Shape", "a constant (folded; shapes are static)"),
    ("ConstantOfShape", "a constant (folded)"),
    ("Cast", "a constant (folded) where its input is constant"),
    ("Range", "a constant (folded)"),
    ("Equal", "a constant (folded)"),
    ("Where", "a constant (folded)"),
];

/// The hint for an operator with no lowering, `None` when it has one.
pub(crate) fn unsupported(op: &str) -> Option<String> {
    if OPERATORS.iter().any(|(o, _)| *o == op) {
        return None;
    }
    Some(
        match op {
            "Log" | "Reciprocal" => {
                "no table for it; divide by a single value (DivVar) or rewrite with Sqrt/Rsqrt"
            }
            "LeakyRelu" | "PRelu" | "Elu" | "Selu" | "HardSigmoid" | "HardSwish" => {
                "no lowering; use Relu, Clip(0, 6), Sigmoid or Tanh"
            }
            "ConvTranspose" | "Resize" | "Upsample" => {
                "no lowering; use Conv with stride 1 over an explicitly padded input"
            }
            "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL2" => {
                "only ReduceMean is supported; ReduceSum is ReduceMean times the count (a Mul)"
            }
            "Einsum" => "rewrite as MatMul",
            "If" | "Loop" | "Scan" => "control flow cannot be proven; export a static graph",
            _ => "no lowering; rewrite it with the supported operators (see docs/onnx.md)",
        }
        .into(),
    )
}

/// A tensor of the imported model with its ONNX name.
#[derive(Clone, Debug)]
pub struct ImportedTensor {
    /// The ONNX value name.
    pub name: String,
    /// The zkml tensor index.
    pub idx: i64,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// The result of an import.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The zkml model file's bytes.
    pub bytes: Vec<u8>,
    /// The model, loaded from those bytes.
    pub model: Model,
    /// `log2` of the scale.
    pub scale_bits: u32,
    /// The model's `k`.
    pub k: u32,
    /// The ONNX opset of the file.
    pub opset: i64,
    /// The graph inputs.
    pub inputs: Vec<ImportedTensor>,
    /// The graph outputs.
    pub outputs: Vec<ImportedTensor>,
    /// How many ONNX nodes of each operator the graph has.
    pub ops: BTreeMap<String, usize>,
    /// The number of ONNX nodes.
    pub nodes: usize,
}

/// One node being lowered.
pub(crate) struct Node<'g> {
    pub pb: &'g pb::NodeProto,
    pub name: String,
}

impl Node<'_> {
    /// The `k`-th input's value name, `None` where absent or empty.
    pub fn input(&self, k: usize) -> Option<&str> {
        self.pb
            .input
            .get(k)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn output(&self, k: usize) -> &str {
        self.pb.output.get(k).map(String::as_str).unwrap_or("")
    }

    pub fn int(&self, attr: &str) -> Option<i64> {
        self.pb.get_attr_opt::<i64>(attr).ok().flatten()
    }

    pub fn float(&self, attr: &str) -> Option<f32> {
        self.pb.get_attr_opt::<f32>(attr).ok().flatten()
    }

    pub fn ints(&self, attr: &str) -> Option<Vec<i64>> {
        self.pb.get_attr_opt_vec::<i64>(attr).ok().flatten()
    }

    pub fn string(&self, attr: &str) -> Option<String> {
        self.pb.get_attr_opt::<String>(attr).ok().flatten()
    }
}

pub(crate) type R<T> = Result<T, ImportError>;

pub(crate) struct Lowerer<'g> {
    pub g: &'g Graph,
    pub w: ModelWriter,
    pub sf: f64,
    vals: HashMap<String, i64>,
    pub absorbed: HashSet<usize>,
    /// For a tensor made by transposing an NHWC tensor back to NCHW, that NHWC tensor.
    nhwc: HashMap<i64, i64>,
}

impl<'g> Lowerer<'g> {
    pub fn fail(&self, n: &Node<'_>, detail: impl Into<String>) -> ImportError {
        ImportError::Node {
            file: self.g.file.clone(),
            node: n.name.clone(),
            op: n.pb.op_type.clone(),
            detail: detail.into(),
        }
    }

    /// An ONNX axis (negative counts from the end) of a tensor of rank `rank`, checked.
    pub fn axis(&self, n: &Node<'_>, a: i64, rank: usize) -> R<usize> {
        let r = rank as i64;
        if (-r..r).contains(&a) {
            Ok(a.rem_euclid(r) as usize)
        } else {
            Err(self.fail(n, format!("axis {a} is out of range for rank {rank}")))
        }
    }

    /// A required input's name.
    pub fn need<'n>(&self, n: &'n Node<'_>, k: usize) -> R<&'n str> {
        n.input(k)
            .ok_or_else(|| self.fail(n, format!("input {k} is missing")))
    }

    /// The constant value of an input, `None` where it is computed at run time.
    pub fn constant(&self, name: &str) -> Option<&'g Const> {
        self.g.constant(name)
    }

    /// A required constant input.
    pub fn need_const(&self, n: &Node<'_>, k: usize) -> R<&'g Const> {
        let name = self.need(n, k)?;
        self.constant(name).ok_or_else(|| {
            self.fail(
                n,
                format!("input {k} ('{name}') must be a constant of the model (an initializer or foldable)"),
            )
        })
    }

    /// The constant input's values as integers (shapes, axes, indices).
    pub fn need_ints(&self, n: &Node<'_>, k: usize) -> R<Vec<i64>> {
        Ok(self
            .need_const(n, k)?
            .values
            .iter()
            .map(|&v| v as i64)
            .collect())
    }

    /// `round(v · sf)`, refused where it would not fit zkml's value range.
    pub fn quant(&self, n: &Node<'_>, v: f64) -> R<i64> {
        let q = (v * self.sf).round();
        if !q.is_finite() || q.abs() > 2f64.powi(40) {
            return Err(self.fail(n, format!("constant {v} does not fit at scale {}", self.sf)));
        }
        Ok(q as i64)
    }

    /// A constant quantized at the model's scale, as a tensor of the model.
    pub fn quant_tensor(&mut self, n: &Node<'_>, shape: &[usize], values: &[f64]) -> R<i64> {
        let data = values
            .iter()
            .map(|&v| self.quant(n, v))
            .collect::<R<Vec<_>>>()?;
        let t = Tensor::new(shape.to_vec(), data).map_err(|e| self.fail(n, e))?;
        Ok(self.w.constant(&t))
    }

    /// An operand: an activation, or a constant quantized at the model's scale.
    pub fn operand(&mut self, n: &Node<'_>, k: usize) -> R<i64> {
        let name = self.need(n, k)?;
        if let Some(&idx) = self.vals.get(name) {
            return Ok(idx);
        }
        match self.constant(name) {
            Some(c) => {
                // A scalar constant broadcasts as one value.
                let shape = if c.shape.is_empty() {
                    vec![1]
                } else {
                    c.shape.clone()
                };
                self.quant_tensor(n, &shape, &c.values)
            }
            None => Err(self.fail(n, format!("input '{name}' is not defined before this node"))),
        }
    }

    /// The activation an input names (`None` for a constant).
    pub fn activation(&self, name: &str) -> Option<i64> {
        self.vals.get(name).copied()
    }

    pub fn shape(&self, idx: i64) -> Vec<usize> {
        self.w.shape(idx).map(<[usize]>::to_vec).unwrap_or_default()
    }

    /// The shape ONNX gives the node's `k`-th output.
    pub fn out_shape(&self, n: &Node<'_>, k: usize) -> R<Vec<usize>> {
        let o = n.output(k);
        self.g
            .shape(o)
            .map(<[usize]>::to_vec)
            .ok_or_else(|| self.fail(n, format!("output '{o}' has no concrete shape")))
    }

    /// Binds the node's `k`-th output to `idx`, checking the shape against ONNX's.
    pub fn define(&mut self, n: &Node<'_>, k: usize, idx: i64) -> R<()> {
        let name = n.output(k).to_string();
        self.define_name(n, &name, idx)
    }

    pub fn define_name(&mut self, n: &Node<'_>, name: &str, idx: i64) -> R<()> {
        let have = self.shape(idx);
        if let Some(want) = self.g.shape(name) {
            if have != want && have.iter().product::<usize>() == want.iter().product::<usize>() {
                let r = self.reshape(idx, want);
                self.vals.insert(name.to_string(), r);
                return Ok(());
            }
            if have != want {
                return Err(self.fail(
                    n,
                    format!("lowered to shape {have:?}, but ONNX gives '{name}' shape {want:?}"),
                ));
            }
        }
        self.vals.insert(name.to_string(), idx);
        Ok(())
    }

    pub fn layer(&mut self, ty: &str, params: Vec<i64>, inputs: &[i64], out: Vec<usize>) -> i64 {
        self.w.layer(ty, params, inputs, &[out])[0]
    }

    pub fn reshape(&mut self, idx: i64, shape: &[usize]) -> i64 {
        if self.shape(idx) == shape {
            return idx;
        }
        self.layer("Reshape", vec![], &[idx], shape.to_vec())
    }

    /// Output axis `i` is input axis `perm[i]`.
    pub fn transpose(&mut self, idx: i64, perm: &[usize]) -> i64 {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return idx;
        }
        let s = self.shape(idx);
        let out: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
        let mut params: Vec<i64> = s.iter().map(|&d| d as i64).collect();
        params.extend(perm.iter().map(|&p| p as i64));
        self.layer("Transpose", params, &[idx], out)
    }

    /// NCHW → NHWC, reusing the tensor an NHWC → NCHW transpose came from.
    pub fn nchw_to_nhwc(&mut self, idx: i64) -> i64 {
        if let Some(&t) = self.nhwc.get(&idx) {
            return t;
        }
        self.transpose(idx, &[0, 2, 3, 1])
    }

    /// NHWC → NCHW, remembered so the next `nchw_to_nhwc` of the result costs no layer.
    pub fn nhwc_to_nchw(&mut self, idx: i64) -> i64 {
        let t = self.transpose(idx, &[0, 3, 1, 2]);
        self.nhwc.insert(t, idx);
        t
    }

    /// The node that alone reads `value`, if its operator is one of `ops`.
    pub fn fusable(&self, value: &str, ops: &[&str]) -> Option<(usize, &'g pb::NodeProto)> {
        let i = self.g.sole_consumer(value)?;
        let n = &self.g.nodes[i];
        ops.contains(&n.op_type.as_str()).then_some((i, n))
    }

    pub fn node(&self, i: usize) -> Node<'g> {
        let pb = &self.g.nodes[i];
        Node {
            pb,
            name: node_name(pb, i),
        }
    }

    /// Whether a Clip node is `clip(x, 0, max)`, and its max (`None`: unbounded).
    pub fn clip_bounds(&self, n: &Node<'_>) -> (Option<f64>, Option<f64>) {
        let scalar = |k: usize| {
            n.input(k)
                .and_then(|v| self.constant(v))
                .and_then(|c| c.values.first().copied())
        };
        if self.g.opset >= 11 {
            (scalar(1), scalar(2))
        } else {
            (n.float("min").map(f64::from), n.float("max").map(f64::from))
        }
    }
}

fn dispatch(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    match n.pb.op_type.as_str() {
        "Conv" => linear::conv(l, n),
        "Gemm" => linear::gemm(l, n),
        "MatMul" => linear::matmul(l, n),
        "BatchNormalization" => linear::batch_norm(l, n),
        "Add" | "Sub" | "Mul" | "Div" | "Neg" => elementwise::arithmetic(l, n),
        "Relu" | "Clip" => elementwise::relu(l, n),
        "Sigmoid" | "Tanh" | "Sqrt" | "Pow" | "Exp" => elementwise::table(l, n),
        "Erf" | "Gelu" => elementwise::gelu(l, n),
        "Identity" | "Dropout" => {
            let x = l.operand(n, 0)?;
            l.define(n, 0, x)
        }
        "Softmax" => reduce::softmax(l, n),
        "LayerNormalization" => reduce::layer_norm(l, n),
        "ReduceMean" => reduce::reduce_mean(l, n),
        "MaxPool" | "AveragePool" | "GlobalAveragePool" | "GlobalMaxPool" => reduce::pool(l, n),
        "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" => shape::reshape(l, n),
        "Transpose" => shape::transpose(l, n),
        "Concat" => shape::concat(l, n),
        "Slice" => shape::slice(l, n),
        "Split" => shape::split(l, n),
        "Gather" => shape::gather(l, n),
        "Pad" => shape::pad(l, n),
        "Expand" => shape::expand(l, n),
        op => Err(l.fail(
            n,
            format!("{op} is only supported where its result is a constant of the model"),
        )),
    }
}

/// Lowers the whole graph.
pub(crate) fn lower(g: &Graph, opts: &Options) -> R<Imported> {
    let k = opts.k();
    if !(1..=24).contains(&opts.scale_bits) || !(opts.scale_bits + 2..=30).contains(&k) {
        return Err(ImportError::Model {
            file: g.file.clone(),
            detail: format!(
                "scale bits {} and k {k} are out of range (scale bits 1..=24, k from scale bits + 2 to 30)",
                opts.scale_bits
            ),
        });
    }
    let mut l = Lowerer {
        g,
        w: ModelWriter::new(1i64 << opts.scale_bits, k),
        sf: (1u64 << opts.scale_bits) as f64,
        vals: HashMap::new(),
        absorbed: HashSet::new(),
        nhwc: HashMap::new(),
    };
    let mut inputs = Vec::new();
    for i in &g.inputs {
        let idx = l.w.input(&i.shape);
        l.vals.insert(i.name.clone(), idx);
        inputs.push(ImportedTensor {
            name: i.name.clone(),
            idx,
            shape: i.shape.clone(),
        });
    }
    let mut ops = BTreeMap::new();
    for i in 0..g.nodes.len() {
        let n = l.node(i);
        *ops.entry(n.pb.op_type.clone()).or_insert(0) += 1;
        if l.absorbed.contains(&i) {
            continue;
        }
        let outs: Vec<&String> = n.pb.output.iter().filter(|o| !o.is_empty()).collect();
        if !outs.is_empty() && outs.iter().all(|o| g.constant(o).is_some()) {
            continue; // folded by tract's inference
        }
        dispatch(&mut l, &n)?;
    }
    let mut outputs = Vec::new();
    for name in &g.outputs {
        let idx = l.vals.get(name).copied().ok_or_else(|| ImportError::Model {
            file: g.file.clone(),
            detail: format!(
                "graph output '{name}' is a constant: it does not depend on the inputs, and there is nothing to prove"
            ),
        })?;
        outputs.push(ImportedTensor {
            name: name.clone(),
            idx,
            shape: l.shape(idx),
        });
    }
    l.w.set_outputs(outputs.iter().map(|o| o.idx).collect());
    let (bytes, model) =
        l.w.finish(&g.file.display().to_string())
            .map_err(|e| ImportError::Model {
                file: g.file.clone(),
                detail: format!("the lowered model does not load: {e}"),
            })?;
    Ok(Imported {
        bytes,
        model,
        scale_bits: opts.scale_bits,
        k,
        opset: g.opset,
        inputs,
        outputs,
        ops,
        nodes: g.nodes.len(),
    })
}
