//! The bit-exact fixed-point forward pass.

use std::collections::{BTreeMap, BTreeSet};

use crate::op::Op;
use crate::tensor::{numel, strides};
use crate::{IrError, Layer, Model, Tensor, TensorFile};

mod kernels;

use kernels::{
    activate, broadcast_mask, concat, matmul_t, mean, norm_axis, rank, rescale, softmax, to_i64,
    window_op, zip_broadcast, Conv, R,
};

/// Everything a forward pass produced.
#[derive(Clone, Debug)]
pub struct Trace {
    values: BTreeMap<i64, Tensor>,
    ranges: Vec<Option<(i64, i64)>>,
    outputs: TensorFile,
}

impl Trace {
    /// A tensor that was an input or a layer output.
    pub fn tensor(&self, idx: i64) -> Option<&Tensor> {
        self.values.get(&idx)
    }

    /// For each layer run (in order), the smallest and largest value among its outputs.
    pub fn layer_ranges(&self) -> &[Option<(i64, i64)>] {
        &self.ranges
    }

    /// The model outputs, as zkml's output tensor file.
    pub fn outputs(&self) -> &TensorFile {
        &self.outputs
    }
}

struct Ctx<'a> {
    sf: i64,
    min_val: i64,
    max_val: i64,
    layer: &'a Layer,
}

impl Ctx<'_> {
    fn out_shape(&self, n: usize) -> R<Vec<usize>> {
        self.layer
            .output_shapes
            .get(n)
            .cloned()
            .ok_or_else(|| format!("no declared shape for output {n}"))
    }

    fn eval(&self, ins: &[&Tensor]) -> R<Vec<Tensor>> {
        let sf = self.sf;
        let one = |t: Tensor| Ok(vec![t]);
        let map = |t: &Tensor, f: &dyn Fn(i64) -> R<i64>| -> R<Tensor> {
            Tensor::new(
                t.shape().to_vec(),
                t.data().iter().map(|&v| f(v)).collect::<R<Vec<_>>>()?,
            )
        };
        match &self.layer.op {
            Op::Conv2D {
                kind,
                padding,
                activation,
                stride,
            } => one(Conv {
                inp: ins[0],
                w: ins[1],
                bias: ins.get(2).copied(),
                kind: *kind,
                padding: *padding,
                act: *activation,
                stride: *stride,
                sf,
            }
            .run()?),
            Op::FullyConnected { activation } => {
                let inp = ins[0];
                let (n, m) = match inp.shape() {
                    [n, m] => (*n, *m),
                    [_, n, m] => (*n, *m), // zkml uses batch index 0 only
                    s => {
                        return Err(format!(
                            "fully connected input must have rank 2 or 3, got {s:?}"
                        ))
                    }
                };
                let w = ins[1];
                rank(w, 2, "fully connected weights")?;
                let (p, wm) = (w.shape()[0], w.shape()[1]);
                if wm != m {
                    return Err(format!(
                        "weights {:?} do not match input {:?}",
                        w.shape(),
                        inp.shape()
                    ));
                }
                let mut out = Tensor::new(
                    vec![n, p],
                    matmul_t(&inp.data()[..n * m], w.data(), n, m, p, sf)?,
                )?;
                if let Some(b) = ins.get(2) {
                    out = zip_broadcast(&out, &b.broadcast_to(&[n, p])?, |x, y| to_i64(x + y))?;
                }
                one(map(&out, &|v| Ok(activate(v, *activation, sf)))?)
            }
            Op::BatchMatMul { adj_y } => {
                let (a, b) = (ins[0], ins[1]);
                rank(a, 3, "first operand")?;
                rank(b, 3, "second operand")?;
                let (bs, n, m) = (a.shape()[0], a.shape()[1], a.shape()[2]);
                // Bring the second operand to [batch, p, m] ("weights" layout) for each batch.
                let bt = if *adj_y {
                    b.clone()
                } else {
                    b.permute(&[0, 2, 1])?
                };
                if bt.shape()[0] != bs || bt.shape()[2] != m {
                    return Err(format!(
                        "operands {:?} and {:?} do not multiply",
                        a.shape(),
                        b.shape()
                    ));
                }
                let p = bt.shape()[1];
                let mut out = Vec::with_capacity(bs * n * p);
                for i in 0..bs {
                    out.extend(matmul_t(
                        &a.data()[i * n * m..(i + 1) * n * m],
                        &bt.data()[i * p * m..(i + 1) * p * m],
                        n,
                        m,
                        p,
                        sf,
                    )?);
                }
                one(Tensor::new(vec![bs, n, p], out)?)
            }
            Op::Add { activation } => one(zip_broadcast(ins[0], ins[1], |x, y| {
                Ok(activate(to_i64(x + y)?, *activation, sf))
            })?),
            Op::Sub => one(zip_broadcast(ins[0], ins[1], |x, y| to_i64(x - y))?),
            Op::Mul => one(zip_broadcast(ins[0], ins[1], |x, y| {
                rescale(x * y, sf.into())
            })?),
            Op::SquaredDifference => one(zip_broadcast(ins[0], ins[1], |x, y| {
                rescale((x - y) * (x - y), sf.into())
            })?),
            Op::Square => one(map(ins[0], &|v| {
                rescale(i128::from(v) * i128::from(v), sf.into())
            })?),
            Op::DivFixed { divisor } => {
                one(map(ins[0], &|v| rescale(v.into(), (*divisor).into()))?)
            }
            Op::DivVar => {
                let d = match ins[1].data() {
                    [d] if *d > 0 => *d,
                    [d] => return Err(format!("divisor {d} must be positive")),
                    _ => {
                        return Err(format!(
                            "divisor must be a single value, got shape {:?}",
                            ins[1].shape()
                        ))
                    }
                };
                one(map(ins[0], &|v| {
                    rescale(i128::from(v) * i128::from(sf), d.into())
                })?)
            }
            Op::AvgPool2D { window, stride } => {
                let div = (window.0 * window.1) as i128;
                one(window_op(ins[0], *window, *stride, |w| {
                    rescale(w.iter().map(|&v| i128::from(v)).sum(), div)
                })?)
            }
            Op::MaxPool2D { window, stride } => one(window_op(ins[0], *window, *stride, |w| {
                w.iter()
                    .copied()
                    .max()
                    .ok_or_else(|| "empty pooling window".to_string())
            })?),
            Op::Mean { axes } => one(mean(ins[0], axes, &self.out_shape(0)?)?),
            Op::Softmax { mask } => one(softmax(ins[0], mask.as_ref(), sf, self.min_val)?),
            Op::MaskNegInf { mask } => {
                let m = broadcast_mask(mask, ins[0].shape())?;
                let data = ins[0]
                    .data()
                    .iter()
                    .zip(&m)
                    .map(|(&v, &k)| if k == 0 { v } else { self.min_val })
                    .collect();
                one(Tensor::new(ins[0].shape().to_vec(), data)?)
            }
            Op::Lookup { f, replace } => {
                let mut data = ins[0].data().to_vec();
                for &(i, sign) in replace {
                    let slot = data
                        .get_mut(i)
                        .ok_or_else(|| format!("mask index {i} is out of range"))?;
                    *slot = if sign > 0 { self.max_val } else { self.min_val };
                }
                let data = data
                    .into_iter()
                    .map(|v| f.eval(v, sf, self.min_val))
                    .collect();
                one(Tensor::new(ins[0].shape().to_vec(), data)?)
            }
            Op::Reshape => one(ins[0].clone().reshape(self.out_shape(0)?)?),
            Op::Transpose { perm } => one(ins[0].permute(perm)?),
            Op::Concatenation { axis } => {
                let nd = ins[0].shape().len();
                one(concat(ins, norm_axis(*axis, nd)?)?)
            }
            Op::Pack { axis } => {
                let s = ins[0].shape().to_vec();
                let a = norm_axis(*axis, s.len() + 1)?;
                let mut expanded = s.clone();
                expanded.insert(a, 1);
                let parts = ins
                    .iter()
                    .map(|t| {
                        if t.shape() == s {
                            (*t).clone().reshape(expanded.clone())
                        } else {
                            Err(format!("cannot pack shapes {s:?} and {:?}", t.shape()))
                        }
                    })
                    .collect::<R<Vec<_>>>()?;
                one(concat(&parts.iter().collect::<Vec<_>>(), a)?)
            }
            Op::Split { axis, parts } => {
                let t = ins[1];
                let a = norm_axis(*axis, t.shape().len())?;
                let d = t.shape()[a];
                if !d.is_multiple_of(*parts) {
                    return Err(format!(
                        "axis {a} of shape {:?} does not split into {parts} equal parts",
                        t.shape()
                    ));
                }
                let mut len = t.shape().to_vec();
                len[a] = d / parts;
                (0..*parts)
                    .map(|i| {
                        let mut start = vec![0; len.len()];
                        start[a] = i * len[a];
                        t.slice(&start, &len)
                    })
                    .collect()
            }
            Op::Slice { begin, size } => {
                let s = ins[0].shape();
                if begin.len() != s.len() {
                    return Err(format!("slice has {} axes, input shape {s:?}", begin.len()));
                }
                let len = size
                    .iter()
                    .zip(begin)
                    .zip(s)
                    .map(|((&z, &b), &d)| {
                        if z < 0 {
                            d.checked_sub(b)
                                .ok_or_else(|| format!("slice start {b} exceeds {d}"))
                        } else {
                            Ok(z as usize)
                        }
                    })
                    .collect::<R<Vec<_>>>()?;
                one(ins[0].slice(begin, &len)?)
            }
            Op::Pad { pads } => {
                let s = ins[0].shape();
                if pads.len() != s.len() {
                    return Err(format!("{} padding pairs for shape {s:?}", pads.len()));
                }
                let shape: Vec<usize> = s
                    .iter()
                    .zip(pads)
                    .map(|(&d, &(lo, hi))| d + lo + hi)
                    .collect();
                let mut out = Tensor::filled(shape.clone(), 0)?.into_data();
                let (src_st, dst_st) = (strides(s), strides(&shape));
                for (flat, &v) in ins[0].data().iter().enumerate() {
                    let dst: usize = (0..s.len())
                        .map(|a| ((flat / src_st[a]) % s[a] + pads[a].0) * dst_st[a])
                        .sum();
                    out[dst] = v;
                }
                one(Tensor::new(shape, out)?)
            }
            Op::Broadcast => one(ins[0].broadcast_to(&self.out_shape(0)?)?),
            Op::Rotate { axes } => one(ins[0].flip(axes)?),
            Op::ResizeNearestNeighbor => {
                let t = ins[0];
                let os = self.out_shape(0)?;
                rank(t, 4, "resize input")?;
                let s = t.shape();
                if os.len() != 4 || s[0] != 1 || os[3] != s[3] || os[1] == 0 || os[2] == 0 {
                    return Err(format!("cannot resize {s:?} to {os:?}"));
                }
                let mut out = Vec::with_capacity(numel(&os).unwrap_or(0));
                for h in 0..os[1] {
                    let hi = ((h as f64 * (s[1] as f64 / os[1] as f64)) as usize).min(s[1] - 1);
                    for w in 0..os[2] {
                        let wi = ((w as f64 * (s[2] as f64 / os[2] as f64)) as usize).min(s[2] - 1);
                        let base = (hi * s[2] + wi) * s[3];
                        out.extend_from_slice(&t.data()[base..base + s[3]]);
                    }
                }
                one(Tensor::new(os, out)?)
            }
            Op::Noop { pass } => {
                let os = self.out_shape(0)?;
                let n = numel(&os).ok_or("output shape is too large")?;
                let mut data = ins[*pass].data().to_vec();
                data.resize(n, 0);
                one(Tensor::new(os, data)?)
            }
        }
    }
}

impl Op {
    /// Whether the op only moves values or fills in constants, never computing with them: Reshape, Transpose,
    /// Concatenation, Pack, Split, Slice, Pad and Noop (zeros), MaskNegInf (`min_val`), Broadcast, Rotate,
    /// ResizeNearestNeighbor.
    pub fn is_wiring(&self) -> bool {
        matches!(
            self,
            Op::Reshape
                | Op::Transpose { .. }
                | Op::Concatenation { .. }
                | Op::Pack { .. }
                | Op::Split { .. }
                | Op::Slice { .. }
                | Op::Pad { .. }
                | Op::Broadcast
                | Op::Rotate { .. }
                | Op::ResizeNearestNeighbor
                | Op::Noop { .. }
                | Op::MaskNegInf { .. }
        )
    }
}

impl Model {
    /// Applies the wiring layer `index` (see [`Op::is_wiring`]) to arbitrary payloads, with exactly the code the
    /// forward pass uses. Circuits pass element ids (`1..=n`) and read back where every output element comes
    /// from; any other value in the result is a constant the layer filled in (0 for padding, `min_val` for
    /// MaskNegInf).
    pub fn wire(&self, index: usize, inputs: &[&Tensor]) -> Result<Vec<Tensor>, IrError> {
        let layer = self.layers.get(index).ok_or_else(|| IrError::Model {
            file: self.source.clone(),
            reason: format!("no layer {index}"),
        })?;
        let fail = self.eval_error(index, layer);
        if !layer.op.is_wiring() {
            return Err(fail("not a wiring layer".into()));
        }
        if inputs.len() != layer.inputs.len() {
            return Err(fail(format!(
                "{} payloads for {} inputs",
                inputs.len(),
                layer.inputs.len()
            )));
        }
        let ctx = Ctx {
            sf: self.scale,
            min_val: self.min_val(),
            max_val: self.max_val(),
            layer,
        };
        ctx.eval(inputs).map_err(fail)
    }

    /// The error of layer `index` (`layer`) failing to evaluate, for a reason given later.
    fn eval_error<'a>(&'a self, index: usize, layer: &'a Layer) -> impl Fn(String) -> IrError + 'a {
        move |reason| IrError::Eval {
            file: self.source.clone(),
            index,
            layer_type: layer.layer_type.clone(),
            reason,
        }
    }

    /// Layer `index` on the tensors `ins` (one per input, in order), with the shapes checked against the layer's
    /// declarations: what the forward pass computes for it.
    pub(crate) fn eval_layer(&self, index: usize, ins: &[&Tensor]) -> Result<Vec<Tensor>, IrError> {
        let layer = self.layers.get(index).ok_or_else(|| IrError::Model {
            file: self.source.clone(),
            reason: format!("no layer {index}"),
        })?;
        let fail = self.eval_error(index, layer);
        if ins.len() != layer.inputs.len() {
            return Err(fail(format!(
                "{} tensors for {} inputs",
                ins.len(),
                layer.inputs.len()
            )));
        }
        for (n, ((i, declared), t)) in layer
            .inputs
            .iter()
            .zip(&layer.input_shapes)
            .zip(ins)
            .enumerate()
        {
            if numel(declared) != Some(t.len()) {
                return Err(fail(format!(
                    "input {n} (tensor {i}) has shape {:?} but the layer declares {declared:?}",
                    t.shape()
                )));
            }
        }
        let ctx = Ctx {
            sf: self.scale,
            min_val: self.min_val(),
            max_val: self.max_val(),
            layer,
        };
        let outs = ctx.eval(ins).map_err(&fail)?;
        for (declared, t) in layer.output_shapes.iter().zip(&outs) {
            if numel(declared) != Some(t.len()) {
                return Err(fail(format!(
                    "computes shape {:?} but the layer declares {declared:?}",
                    t.shape()
                )));
            }
        }
        Ok(outs)
    }

    /// Runs the model on the tensors of an input file, in exact integer arithmetic, as zkml computes it.
    ///
    /// Input tensors fill the model's free tensors; they may not replace a constant or a layer output.
    pub fn forward(&self, inputs: &TensorFile) -> Result<Trace, IrError> {
        self.forward_range(0, self.layers.len(), inputs)
    }

    /// Runs the layers `start..end` only. `inputs` supplies the slice's boundary-in tensors (see
    /// [`Model::slice_boundary`]); the trace's outputs are the slice's boundary-out tensors (for the whole model,
    /// the model outputs).
    pub fn forward_range(
        &self,
        start: usize,
        end: usize,
        inputs: &TensorFile,
    ) -> Result<Trace, IrError> {
        let wanted = if start == 0 && end == self.layers.len() {
            self.outputs.clone()
        } else {
            self.slice_boundary(start, end).1
        };
        self.forward_slice(start, end, inputs, &wanted)
    }

    /// [`Self::forward_range`] with the trace's outputs chosen: the tensors `wanted` (written by the slice, or
    /// given in `inputs`), in that order. A chunk of a graph-shaped plan writes only what its readers need.
    pub fn forward_slice(
        &self,
        start: usize,
        end: usize,
        inputs: &TensorFile,
        wanted: &[i64],
    ) -> Result<Trace, IrError> {
        if start >= end || end > self.layers.len() {
            return Err(IrError::Model {
                file: self.source.clone(),
                reason: format!(
                    "layer range {start}..{end} is not a non-empty range of the {} layers",
                    self.layers.len()
                ),
            });
        }
        let written: BTreeSet<i64> = self.layers[start..end]
            .iter()
            .flat_map(|l| l.outputs.iter().copied())
            .collect();
        let mut values: BTreeMap<i64, Tensor> = BTreeMap::new();
        for (idx, t) in inputs.tensors() {
            if self.tensors.get(idx).is_some_and(|c| c.data.is_some()) || written.contains(idx) {
                return Err(IrError::Model {
                    file: self.source.clone(),
                    reason: format!("the input file supplies tensor {idx}, which the model computes or holds as a weight"),
                });
            }
            values.insert(*idx, t.clone());
        }
        let mut ranges = Vec::with_capacity(end - start);
        for (index, layer) in self.layers.iter().enumerate().take(end).skip(start) {
            let fail = self.eval_error(index, layer);
            let mut ins = Vec::with_capacity(layer.inputs.len());
            for i in &layer.inputs {
                let t = match (values.get(i), self.tensors.get(i)) {
                    (Some(t), _) => t,
                    (None, Some(TensorInfo { data: Some(t), .. })) => t,
                    (None, Some(_)) => {
                        return Err(fail(format!(
                            "tensor {i} is a weight without values (a config file): use a model file or synthetic weights"
                        )))
                    }
                    (None, None) => {
                        return Err(fail(format!("tensor {i} has no value: it is not a constant and the input file does not supply it")))
                    }
                };
                ins.push(t);
            }
            let outs = self.eval_layer(index, &ins)?;
            let mut range: Option<(i64, i64)> = None;
            for (o, t) in layer.outputs.iter().zip(outs) {
                if let Some((lo, hi)) = t.range() {
                    range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
                }
                values.insert(*o, t);
            }
            ranges.push(range);
        }
        let mut outputs = Vec::with_capacity(wanted.len());
        for &o in wanted {
            let t = values
                .get(&o)
                .or_else(|| self.tensors.get(&o).and_then(|c| c.data.as_ref()))
                .ok_or_else(|| IrError::Model {
                    file: self.source.clone(),
                    reason: format!("output tensor {o} has no value"),
                })?;
            outputs.push((o, t.clone()));
        }
        let outputs = TensorFile::new(outputs).map_err(|reason| IrError::Model {
            file: self.source.clone(),
            reason,
        })?;
        Ok(Trace {
            values,
            ranges,
            outputs,
        })
    }
}

use crate::TensorInfo;
