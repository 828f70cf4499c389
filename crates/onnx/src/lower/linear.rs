//! Conv, Gemm, MatMul and BatchNormalization.

use super::{Lowerer, Node, R};
use crate::graph::Const;

/// zkml's activation codes.
const ACT_NONE: i64 = 0;
const ACT_RELU: i64 = 1;
const ACT_RELU6: i64 = 3;

/// A Relu (or `Clip(0, ∞)`) that alone reads `value`: fused, returning the value it defines.
fn fuse_relu(l: &mut Lowerer<'_>, value: &str) -> Option<String> {
    let (i, pb) = l.fusable(value, &["Relu", "Clip"])?;
    if pb.op_type == "Clip" {
        let n = l.node(i);
        match l.clip_bounds(&n) {
            (Some(0.0), None) => {}
            _ => return None,
        }
    }
    l.absorbed.insert(i);
    pb.output.first().cloned()
}

fn transpose2(c: &Const) -> Vec<f64> {
    let (r, k) = (c.shape[0], c.shape[1]);
    let mut out = vec![0.0; r * k];
    for i in 0..r {
        for j in 0..k {
            out[j * r + i] = c.values[i * k + j];
        }
    }
    out
}

/// A bias of `m` values from a constant broadcastable to `[rows, m]`, `None` where it varies by row.
fn bias_row(c: &Const, m: usize) -> Option<Vec<f64>> {
    let n = c.values.len();
    if n == 1 {
        return Some(vec![c.values[0]; m]);
    }
    if n == m {
        return Some(c.values.clone());
    }
    if n.is_multiple_of(m) && c.values.chunks(m).all(|r| r == &c.values[..m]) {
        return Some(c.values[..m].to_vec());
    }
    None
}

pub(super) fn gemm(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let alpha = f64::from(n.float("alpha").unwrap_or(1.0));
    let beta = f64::from(n.float("beta").unwrap_or(1.0));
    let mut a = l.operand(n, 0)?;
    if n.int("transA").unwrap_or(0) != 0 {
        a = l.transpose(a, &[1, 0]);
    }
    let a_shape = l.shape(a);
    if a_shape.len() != 2 {
        return Err(l.fail(n, format!("A must be a matrix, got shape {a_shape:?}")));
    }
    let trans_b = n.int("transB").unwrap_or(0) != 0;
    let b_name = l.need(n, 1)?;
    let out = l.out_shape(n, 0)?;
    let m = out[1];
    let bias = match n.input(2) {
        Some(c) => Some(
            l.constant(c)
                .ok_or_else(|| l.fail(n, "C must be a constant of the model"))?,
        ),
        None => None,
    };
    if let Some(bc) = l
        .constant(b_name)
        .filter(|_| l.activation(b_name).is_none())
    {
        // Weights [M, K]: B is [K, M], or [M, K] when transposed.
        let wt = if trans_b {
            bc.values.clone()
        } else {
            transpose2(bc)
        };
        let wt: Vec<f64> = wt.iter().map(|v| v * alpha).collect();
        let w = l.quant_tensor(n, &[m, a_shape[1]], &wt)?;
        let mut ins = vec![a, w];
        if let Some(c) = bias {
            let row = bias_row(c, m)
                .ok_or_else(|| l.fail(n, "a bias C that differs between rows is not supported"))?;
            let row: Vec<f64> = row.iter().map(|v| v * beta).collect();
            ins.push(l.quant_tensor(n, &[m], &row)?);
        }
        let (act, name) = match fuse_relu(l, n.output(0)) {
            Some(name) => (ACT_RELU, name),
            None => (ACT_NONE, n.output(0).to_string()),
        };
        let y = l.layer("FullyConnected", vec![act], &ins, out);
        return l.define_name(n, &name, y);
    }
    // B is an activation: Y = A·B by a matrix check, then the bias as an Add.
    if alpha != 1.0 {
        return Err(l.fail(n, "alpha must be 1 when B is computed at run time"));
    }
    let b = l.operand(n, 1)?;
    let bt = if trans_b { b } else { l.transpose(b, &[1, 0]) };
    let mut y = l.layer("FullyConnected", vec![ACT_NONE], &[a, bt], out.clone());
    if let Some(c) = bias {
        let vals: Vec<f64> = c.values.iter().map(|v| v * beta).collect();
        let shape = if c.shape.is_empty() {
            vec![1]
        } else {
            c.shape.clone()
        };
        let ct = l.quant_tensor(n, &shape, &vals)?;
        y = l.layer("Add", vec![ACT_NONE], &[y, ct], out);
    }
    l.define(n, 0, y)
}

pub(super) fn matmul(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let (a_name, b_name) = (l.need(n, 0)?, l.need(n, 1)?);
    let out = l.out_shape(n, 0)?;
    let a_const = l.activation(a_name).is_none();
    let b_const = l.activation(b_name).is_none();
    let b_const2 = l.constant(b_name).filter(|c| b_const && c.shape.len() == 2);
    if let Some(bc) = b_const2 {
        // X [.., K] · B [K, M]: FullyConnected over the rows of X.
        let a = l.operand(n, 0)?;
        let s = l.shape(a);
        let (k, m) = (bc.shape[0], bc.shape[1]);
        if s.last() != Some(&k) {
            return Err(l.fail(
                n,
                format!("shapes {s:?} and {:?} do not multiply", bc.shape),
            ));
        }
        let rows = s.iter().product::<usize>() / k.max(1);
        let a2 = l.reshape(a, &[rows, k]);
        let w = l.quant_tensor(n, &[m, k], &transpose2(bc))?;
        let y = l.layer("FullyConnected", vec![ACT_NONE], &[a2, w], vec![rows, m]);
        return l.define(n, 0, y);
    }
    let a = l.operand(n, 0)?;
    let b = l.operand(n, 1)?;
    let (sa, sb) = (l.shape(a), l.shape(b));
    if sa.len() < 2 || sb.len() < 2 {
        return Err(l.fail(n, format!("operands of shapes {sa:?} and {sb:?}: vectors are not supported (reshape to a matrix)")));
    }
    let (nr, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
    let (kb, m) = (sb[sb.len() - 2], sb[sb.len() - 1]);
    if k != kb {
        return Err(l.fail(n, format!("shapes {sa:?} and {sb:?} do not multiply")));
    }
    if a_const && sa.len() == 2 && sb.len() == 2 {
        // C · X = (Xᵀ · Cᵀ)ᵀ: X's transpose as the rows, C as the weights.
        let bt = l.transpose(b, &[1, 0]);
        let y = l.layer("FullyConnected", vec![ACT_NONE], &[bt, a], vec![m, nr]);
        let y = l.transpose(y, &[1, 0]);
        return l.define(n, 0, y);
    }
    if sb.len() == 2 {
        let rows = sa.iter().product::<usize>() / k.max(1);
        let a2 = l.reshape(a, &[rows, k]);
        let bt = l.transpose(b, &[1, 0]);
        let y = l.layer("FullyConnected", vec![ACT_NONE], &[a2, bt], vec![rows, m]);
        return l.define(n, 0, y);
    }
    let batch_a: usize = sa[..sa.len() - 2].iter().product();
    let batch_b: usize = sb[..sb.len() - 2].iter().product();
    if sa[..sa.len() - 2] != sb[..sb.len() - 2] {
        return Err(l.fail(
            n,
            format!("batch dimensions of {sa:?} and {sb:?} differ (broadcast batches are not supported; expand the operand)"),
        ));
    }
    debug_assert_eq!(batch_a, batch_b);
    let a3 = l.reshape(a, &[batch_a, nr, k]);
    let b3 = l.reshape(b, &[batch_b, k, m]);
    let y = l.layer("BatchMatMul", vec![0, 0], &[a3, b3], vec![batch_a, nr, m]);
    let _ = out;
    l.define(n, 0, y)
}

/// Per-channel `scale` and `shift` of a BatchNormalization node: `y = x·scale + shift`.
fn bn_affine(l: &Lowerer<'_>, n: &Node<'_>) -> R<(Vec<f64>, Vec<f64>)> {
    let eps = f64::from(n.float("epsilon").unwrap_or(1e-5));
    let gamma = &l.need_const(n, 1)?.values;
    let beta = &l.need_const(n, 2)?.values;
    let mean = &l.need_const(n, 3)?.values;
    let var = &l.need_const(n, 4)?.values;
    let c = gamma.len();
    if [beta.len(), mean.len(), var.len()].iter().any(|&x| x != c) {
        return Err(l.fail(n, "scale, bias, mean and variance differ in length"));
    }
    let scale: Vec<f64> = (0..c).map(|i| gamma[i] / (var[i] + eps).sqrt()).collect();
    let shift = (0..c).map(|i| beta[i] - mean[i] * scale[i]).collect();
    Ok((scale, shift))
}

pub(super) fn batch_norm(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let s = l.shape(x);
    let (scale, shift) = bn_affine(l, n)?;
    if s.len() < 2 || s[1] != scale.len() {
        return Err(l.fail(
            n,
            format!(
                "input {s:?} does not have {} channels on axis 1",
                scale.len()
            ),
        ));
    }
    let mut cshape = vec![scale.len()];
    cshape.extend(std::iter::repeat_n(1, s.len() - 2));
    let sc = l.quant_tensor(n, &cshape, &scale)?;
    let sh = l.quant_tensor(n, &cshape, &shift)?;
    let y = l.layer("Mul", vec![], &[x, sc], s.clone());
    let y = l.layer("Add", vec![ACT_NONE], &[y, sh], s);
    l.define(n, 0, y)
}

/// One spatial axis of a convolution or pooling window: padding before and after, and the output size.
pub(super) struct Axis {
    pub before: usize,
    pub after: usize,
    pub out: usize,
}

/// ONNX's padding for a window of `k` with stride `s` over `size` (explicit `pads` or `auto_pad`).
pub(super) fn window_axes(
    l: &Lowerer<'_>,
    n: &Node<'_>,
    size: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
) -> R<[Axis; 2]> {
    let auto = n.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    let pads = n.ints("pads").unwrap_or_else(|| vec![0; 4]);
    if pads.len() != 4 || pads.iter().any(|&p| p < 0) {
        return Err(l.fail(n, format!("pads {pads:?} must be four non-negative values")));
    }
    let mut axes = Vec::new();
    for d in 0..2 {
        let (before, after) = match auto.as_str() {
            "NOTSET" => (pads[d] as usize, pads[d + 2] as usize),
            "VALID" => (0, 0),
            "SAME_UPPER" | "SAME_LOWER" => {
                let out = size[d].div_ceil(stride[d]);
                let total = ((out - 1) * stride[d] + kernel[d]).saturating_sub(size[d]);
                if auto == "SAME_UPPER" {
                    (total / 2, total - total / 2)
                } else {
                    (total - total / 2, total / 2)
                }
            }
            other => return Err(l.fail(n, format!("auto_pad {other} is not an ONNX value"))),
        };
        let padded = size[d] + before + after;
        if padded < kernel[d] {
            return Err(l.fail(
                n,
                format!("window {kernel:?} is larger than the padded input"),
            ));
        }
        axes.push(Axis {
            before,
            after,
            out: (padded - kernel[d]) / stride[d] + 1,
        });
    }
    let [a, b]: [Axis; 2] = axes
        .try_into()
        .map_err(|_| l.fail(n, "internal: two axes expected"))?;
    Ok([a, b])
}

/// Explicit zero padding of an NHWC tensor (nothing where there is none).
pub(super) fn pad_nhwc(l: &mut Lowerer<'_>, x: i64, axes: &[Axis; 2]) -> i64 {
    if axes.iter().all(|a| a.before == 0 && a.after == 0) {
        return x;
    }
    let s = l.shape(x);
    let params = vec![
        0,
        0,
        axes[0].before as i64,
        axes[0].after as i64,
        axes[1].before as i64,
        axes[1].after as i64,
        0,
        0,
    ];
    let out = vec![
        s[0],
        s[1] + axes[0].before + axes[0].after,
        s[2] + axes[1].before + axes[1].after,
        s[3],
    ];
    l.layer("Pad", params, &[x], out)
}

pub(super) fn pair(l: &Lowerer<'_>, n: &Node<'_>, attr: &str, default: usize) -> R<[usize; 2]> {
    match n.ints(attr) {
        None => Ok([default, default]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| x > 0) => Ok([v[0] as usize, v[1] as usize]),
        Some(v) => Err(l.fail(
            n,
            format!("{attr} {v:?}: two positive values expected (2-D only)"),
        )),
    }
}

pub(super) fn conv(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let xs = l.shape(x);
    let wc = l.need_const(n, 1)?;
    if xs.len() != 4 || xs[0] != 1 || wc.shape.len() != 4 {
        return Err(l.fail(
            n,
            format!(
                "only 2-D convolution of one image is supported (input {xs:?}, weights {:?})",
                wc.shape
            ),
        ));
    }
    if pair(l, n, "dilations", 1)? != [1, 1] {
        return Err(l.fail(n, "dilations other than 1 are not supported"));
    }
    let (c, h, wd) = (xs[1], xs[2], xs[3]);
    let (oc, icg, kh, kw) = (wc.shape[0], wc.shape[1], wc.shape[2], wc.shape[3]);
    let group = n.int("group").unwrap_or(1).max(1) as usize;
    let depthwise = match group {
        1 if icg == c => false,
        g if g == c && icg == 1 && oc % c == 0 => true,
        g => {
            return Err(l.fail(
                n,
                format!("group {g} with {c} input channels: only 1 group or one group per channel is supported"),
            ))
        }
    };
    let stride = pair(l, n, "strides", 1)?;
    let axes = window_axes(l, n, [h, wd], [kh, kw], stride)?;

    // Fold a following BatchNormalization, fuse a following Relu / Clip(0, 6).
    let mut wv = wc.values.clone();
    let mut bias = match n.input(2) {
        Some(_) => l.need_const(n, 2)?.values.clone(),
        None => vec![0.0; oc],
    };
    let mut last = n.output(0).to_string();
    if let Some((i, _)) = l.fusable(&last, &["BatchNormalization"]) {
        let bn = l.node(i);
        let (scale, shift) = bn_affine(l, &bn)?;
        if scale.len() == oc {
            let per = icg * kh * kw;
            for o in 0..oc {
                for v in &mut wv[o * per..(o + 1) * per] {
                    *v *= scale[o];
                }
                bias[o] = bias[o] * scale[o] + shift[o];
            }
            l.absorbed.insert(i);
            last = bn.output(0).to_string();
        }
    }
    let mut act = ACT_NONE;
    if let Some((i, pb)) = l.fusable(&last, &["Relu", "Clip"]) {
        let fused = l.node(i);
        let a = match pb.op_type.as_str() {
            "Relu" => Some(ACT_RELU),
            _ => match l.clip_bounds(&fused) {
                (Some(0.0), None) => Some(ACT_RELU),
                (Some(lo), Some(hi)) if lo == 0.0 && hi == 6.0 => Some(ACT_RELU6),
                _ => None,
            },
        };
        if let Some(a) = a {
            act = a;
            l.absorbed.insert(i);
            last = fused.output(0).to_string();
        }
    }

    // zkml's weights: OHWI, or [1, KH, KW, OC] for depthwise.
    let mut w = vec![0.0; wv.len()];
    for o in 0..oc {
        for i in 0..icg {
            for y in 0..kh {
                for xx in 0..kw {
                    let v = wv[((o * icg + i) * kh + y) * kw + xx];
                    if depthwise {
                        w[(y * kw + xx) * oc + o] = v;
                    } else {
                        w[((o * kh + y) * kw + xx) * icg + i] = v;
                    }
                }
            }
        }
    }
    let wshape = if depthwise {
        vec![1, kh, kw, oc]
    } else {
        vec![oc, kh, kw, icg]
    };
    let wt = l.quant_tensor(n, &wshape, &w)?;
    let bt = l.quant_tensor(n, &[oc], &bias)?;

    // zkml's SAME where it matches ONNX's padding exactly, else explicit padding and VALID.
    let xn = l.nchw_to_nhwc(x);
    let same = dzk_ir::conv_geometry(
        h,
        wd,
        (kh, kw),
        (stride[0], stride[1]),
        dzk_ir::Padding::Same,
    );
    let use_same = axes.iter().any(|a| a.before + a.after > 0)
        && same.is_some_and(|g| {
            g.pad_top == axes[0].before
                && g.pad_left == axes[1].before
                && g.out_h == axes[0].out
                && g.out_w == axes[1].out
        });
    let (inp, padding) = if use_same {
        (xn, 0)
    } else {
        (pad_nhwc(l, xn, &axes), 1)
    };
    let kind = i64::from(depthwise);
    let y = l.layer(
        "Conv2D",
        vec![kind, padding, act, stride[0] as i64, stride[1] as i64],
        &[inp, wt, bt],
        vec![1, axes[0].out, axes[1].out, oc],
    );
    let y = l.nhwc_to_nchw(y);
    l.define_name(n, &last, y)
}
