//! Reductions and windows: Softmax, LayerNormalization, ReduceMean, pooling.

use super::linear::{pad_nhwc, pair, window_axes};
use super::{Lowerer, Node, R};

/// The mean over the last axis of `[1, rows, d]`, as `[1, rows, 1]`.
fn mean_last(l: &mut Lowerer<'_>, x3: i64) -> i64 {
    let s = l.shape(x3);
    l.layer("Mean", vec![2], &[x3], vec![1, s[1], 1])
}

pub(super) fn softmax(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let s = l.shape(x);
    if s.is_empty() {
        return Err(l.fail(n, "softmax of a scalar"));
    }
    let r = s.len();
    let y = if l.g.opset >= 13 {
        let a = l.axis(n, n.int("axis").unwrap_or(-1), r)?;
        // Move the axis last, softmax over rows, move it back.
        let mut perm: Vec<usize> = (0..r).filter(|&i| i != a).collect();
        perm.push(a);
        let xt = l.transpose(x, &perm);
        let ts = l.shape(xt);
        let d = ts[r - 1];
        let x2 = l.reshape(xt, &[ts.iter().product::<usize>() / d.max(1), d]);
        let y2 = l.layer("Softmax", vec![], &[x2], l.shape(x2));
        let yt = l.reshape(y2, &ts);
        let mut back = vec![0; r];
        for (i, &p) in perm.iter().enumerate() {
            back[p] = i;
        }
        l.transpose(yt, &back)
    } else {
        // Before opset 13: softmax of the input coerced to 2-D at `axis`.
        let a = l.axis(n, n.int("axis").unwrap_or(1), r)?;
        let rows: usize = s[..a].iter().product();
        let x2 = l.reshape(x, &[rows, s[a..].iter().product()]);
        let y2 = l.layer("Softmax", vec![], &[x2], l.shape(x2));
        l.reshape(y2, &s)
    };
    l.define(n, 0, y)
}

pub(super) fn layer_norm(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let s = l.shape(x);
    let a = l.axis(n, n.int("axis").unwrap_or(-1), s.len())?;
    let d: usize = s[a..].iter().product();
    let rows: usize = s[..a].iter().product();
    let eps = f64::from(n.float("epsilon").unwrap_or(1e-5));
    let x3 = l.reshape(x, &[1, rows, d]);
    let mu = mean_last(l, x3);
    let dv = l.layer("Sub", vec![], &[x3, mu], vec![1, rows, d]);
    let sq = l.layer("Square", vec![], &[dv], vec![1, rows, d]);
    let var = mean_last(l, sq);
    // ε at the model's scale, at least one unit: rsqrt(0) has no value.
    let e = l.quant(n, eps)?.max(1);
    let ec =
        l.w.constant(&dzk_ir::Tensor::new(vec![1], vec![e]).map_err(|m| l.fail(n, m))?);
    let ve = l.layer("Add", vec![0], &[var, ec], vec![1, rows, 1]);
    let rs = l.layer("Rsqrt", vec![], &[ve], vec![1, rows, 1]);
    let mut y = l.layer("Mul", vec![], &[dv, rs], vec![1, rows, d]);
    let scale = l.need_const(n, 1)?;
    if scale.values.len() != d {
        return Err(l.fail(
            n,
            format!("scale has {} values for {d} normalised", scale.values.len()),
        ));
    }
    if scale.values.iter().any(|&v| v != 1.0) {
        let sc = l.quant_tensor(n, &[d], &scale.values.clone())?;
        y = l.layer("Mul", vec![], &[y, sc], vec![1, rows, d]);
    }
    if n.input(2).is_some() {
        let b = l.need_const(n, 2)?;
        if b.values.len() != d {
            return Err(l.fail(
                n,
                format!("bias has {} values for {d} normalised", b.values.len()),
            ));
        }
        if b.values.iter().any(|&v| v != 0.0) {
            let bt = l.quant_tensor(n, &[d], &b.values.clone())?;
            y = l.layer("Add", vec![0], &[y, bt], vec![1, rows, d]);
        }
    }
    if n.pb.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(l.fail(
            n,
            "the mean and inverse-deviation outputs are not supported",
        ));
    }
    l.define(n, 0, y)
}

pub(super) fn reduce_mean(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let s = l.shape(x);
    let r = s.len();
    let listed = if l.g.opset >= 18 {
        match n.input(1) {
            Some(_) => Some(l.need_ints(n, 1)?),
            None => None,
        }
    } else {
        n.ints("axes")
    };
    let mut reduced: Vec<usize> = match listed {
        Some(v) if !v.is_empty() => v.iter().map(|&a| l.axis(n, a, r)).collect::<R<_>>()?,
        _ if n.int("noop_with_empty_axes").unwrap_or(0) != 0 => {
            return l.define(n, 0, x);
        }
        _ => (0..r).collect(),
    };
    reduced.sort_unstable();
    reduced.dedup();
    let kept: Vec<usize> = (0..r).filter(|a| !reduced.contains(a)).collect();
    let perm: Vec<usize> = kept.iter().chain(&reduced).copied().collect();
    let xt = l.transpose(x, &perm);
    let k: usize = kept.iter().map(|&a| s[a]).product();
    let m: usize = reduced.iter().map(|&a| s[a]).product();
    let x3 = l.reshape(xt, &[1, k, m]);
    let y = mean_last(l, x3);
    l.define(n, 0, y)
}

pub(super) fn pool(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let s = l.shape(x);
    if s.len() != 4 || s[0] != 1 {
        return Err(l.fail(
            n,
            format!("only 2-D pooling of one image is supported, input {s:?}"),
        ));
    }
    let (c, h, w) = (s[1], s[2], s[3]);
    let op = n.pb.op_type.as_str();
    if op == "GlobalAveragePool" {
        let y = l.layer("Mean", vec![2, 3], &[x], vec![1, c, 1, 1]);
        return l.define(n, 0, y);
    }
    let (kernel, stride, ty) = if op == "GlobalMaxPool" {
        ([h, w], [1, 1], "MaxPool2D")
    } else {
        let k = pair(l, n, "kernel_shape", 0)?;
        if k.contains(&0) {
            return Err(l.fail(n, "kernel_shape is required"));
        }
        let ty = if op == "MaxPool" {
            "MaxPool2D"
        } else {
            "AveragePool2D"
        };
        (k, pair(l, n, "strides", 1)?, ty)
    };
    if pair(l, n, "dilations", 1)? != [1, 1] {
        return Err(l.fail(n, "dilations other than 1 are not supported"));
    }
    if n.int("storage_order").unwrap_or(0) != 0 || n.pb.output.iter().skip(1).any(|o| !o.is_empty())
    {
        return Err(l.fail(
            n,
            "the indices output and column-major storage are not supported",
        ));
    }
    let axes = window_axes(l, n, [h, w], kernel, stride)?;
    let padded = axes.iter().any(|a| a.before + a.after > 0);
    if padded && (op == "MaxPool" || n.int("count_include_pad").unwrap_or(0) == 0) {
        return Err(l.fail(
            n,
            "padding is supported only for AveragePool with count_include_pad = 1 (pad explicitly, or pool without padding)",
        ));
    }
    let out = l.out_shape(n, 0)?;
    if out != [1, c, axes[0].out, axes[1].out] {
        return Err(l.fail(
            n,
            format!("ceil_mode gives shape {out:?}, which differs from the floor-mode windows; only those are supported"),
        ));
    }
    let xn = l.nchw_to_nhwc(x);
    let xp = pad_nhwc(l, xn, &axes);
    let params = vec![
        kernel[0] as i64,
        kernel[1] as i64,
        stride[0] as i64,
        stride[1] as i64,
    ];
    let y = l.layer(ty, params, &[xp], vec![1, axes[0].out, axes[1].out, c]);
    let y = l.nhwc_to_nchw(y);
    l.define(n, 0, y)
}
