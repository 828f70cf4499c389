//! The arithmetic kernels of the forward pass: rounding, broadcasting, convolution, matrix products, pooling
//! windows, softmax, mean and concatenation, each exact in integers as zkml computes it.

use crate::fixed::{div_round, LookupFn};
use crate::op::{conv_geometry, Activation, ConvGeometry, ConvKind, Mask, Padding};
use crate::tensor::{numel, strides};
use crate::Tensor;

pub(super) type R<T> = Result<T, String>;

pub(super) fn to_i64(v: i128) -> R<i64> {
    i64::try_from(v).map_err(|_| format!("value {v} does not fit in 64 bits"))
}

pub(super) fn rescale(v: i128, divisor: i128) -> R<i64> {
    div_round(v, divisor)
        .ok_or_else(|| format!("rounding division of {v} by {divisor} is undefined or overflows"))
}

pub(super) fn activate(v: i64, act: Activation, sf: i64) -> i64 {
    match act {
        Activation::None => v,
        Activation::Relu => v.max(0),
        Activation::Relu6 => v.clamp(0, 6 * sf),
    }
}

pub(super) fn rank(t: &Tensor, want: usize, what: &str) -> R<()> {
    if t.shape().len() == want {
        Ok(())
    } else {
        Err(format!(
            "{what} must have rank {want}, got shape {:?}",
            t.shape()
        ))
    }
}

pub(super) fn norm_axis(axis: i64, nd: usize) -> R<usize> {
    let a = if axis < 0 { axis + nd as i64 } else { axis };
    usize::try_from(a)
        .ok()
        .filter(|&a| a < nd)
        .ok_or_else(|| format!("axis {axis} is out of range for rank {nd}"))
}

/// The numpy broadcast of two shapes.
fn broadcast_shape(a: &[usize], b: &[usize]) -> R<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

pub(super) fn zip_broadcast(a: &Tensor, b: &Tensor, f: impl Fn(i128, i128) -> R<i64>) -> R<Tensor> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let (a, b) = (a.broadcast_to(&shape)?, b.broadcast_to(&shape)?);
    let data = a
        .data()
        .iter()
        .zip(b.data())
        .map(|(&x, &y)| f(x.into(), y.into()))
        .collect::<R<Vec<_>>>()?;
    Tensor::new(shape, data)
}

pub(super) fn broadcast_mask(mask: &Mask, shape: &[usize]) -> R<Vec<i64>> {
    let m = Tensor::new(mask.shape.clone(), mask.values.clone())?;
    Ok(m.broadcast_to(shape)?.into_data())
}

pub(super) struct Conv<'a> {
    pub(super) inp: &'a Tensor,
    pub(super) w: &'a Tensor,
    pub(super) bias: Option<&'a Tensor>,
    pub(super) kind: ConvKind,
    pub(super) padding: Padding,
    pub(super) act: Activation,
    pub(super) stride: (usize, usize),
    pub(super) sf: i64,
}

impl Conv<'_> {
    pub(super) fn run(&self) -> R<Tensor> {
        rank(self.inp, 4, "conv input")?;
        rank(self.w, 4, "conv weights")?;
        let [b, h, w, c] = [
            self.inp.shape()[0],
            self.inp.shape()[1],
            self.inp.shape()[2],
            self.inp.shape()[3],
        ];
        let ws = self.w.shape();
        let (kh, kw) = (ws[1], ws[2]);
        let (si, sj) = self.stride;
        let (oc, groups_depthwise) = match self.kind {
            ConvKind::Conv => {
                if ws[3] != c {
                    return Err(format!(
                        "weights {ws:?} expect {} input channels, input {:?} has {c}",
                        ws[3],
                        self.inp.shape()
                    ));
                }
                (ws[0], false)
            }
            // Output channel `o` reads input channel `o / M`, with M = OC / C the channel multiplier (TFLite's
            // depth_multiplier; zkml's files have M = 1).
            ConvKind::Depthwise => {
                if ws[0] != 1 || c == 0 || !ws[3].is_multiple_of(c) || ws[3] == 0 || b != 1 {
                    return Err(format!(
                        "depthwise conv needs weights [1, KH, KW, {c}·M] and batch 1, got weights {ws:?} and input {:?}",
                        self.inp.shape()
                    ));
                }
                (ws[3], true)
            }
        };
        let bias: Vec<i64> = match self.bias {
            Some(t) if t.len() == oc => t.data().to_vec(),
            Some(t) => {
                return Err(format!(
                    "bias has {} values for {oc} output channels",
                    t.len()
                ))
            }
            None => vec![0; oc],
        };
        let ConvGeometry {
            pad_top: pt,
            pad_left: pl,
            out_h: oh,
            out_w: ow,
        } = conv_geometry(h, w, (kh, kw), (si, sj), self.padding)
            .ok_or_else(|| format!("kernel {kh}x{kw} is larger than the input {h}x{w}"))?;
        let x = self.inp.data();
        let wd = self.w.data();
        let at = |bb: usize, y: usize, xx: usize, ch: usize| -> i128 {
            // Coordinates in the padded input; the padding is zero.
            match (y.checked_sub(pt), xx.checked_sub(pl)) {
                (Some(y), Some(xx)) if y < h && xx < w => {
                    x[((bb * h + y) * w + xx) * c + ch].into()
                }
                _ => 0,
            }
        };
        let mut out = Vec::with_capacity(b * oh * ow * oc);
        for bb in 0..b {
            for i in 0..oh {
                for j in 0..ow {
                    for o in 0..oc {
                        let mut acc: i128 = 0;
                        for ci in 0..kh {
                            for cj in 0..kw {
                                let (y, xx) = (i * si + ci, j * sj + cj);
                                if groups_depthwise {
                                    acc += at(bb, y, xx, o / (oc / c))
                                        * i128::from(wd[(ci * kw + cj) * oc + o]);
                                } else {
                                    let wbase = ((o * kh + ci) * kw + cj) * c;
                                    for ck in 0..c {
                                        acc += at(bb, y, xx, ck) * i128::from(wd[wbase + ck]);
                                    }
                                }
                            }
                        }
                        let div = to_i64(
                            i128::from(rescale(acc, self.sf.into())?) + i128::from(bias[o]),
                        )?;
                        out.push(activate(div, self.act, self.sf));
                    }
                }
            }
        }
        Tensor::new(vec![b, oh, ow, oc], out)
    }
}

/// `round(A·Wᵀ / sf)` for `A: [n, m]`, `W: [p, m]`, as `[n, p]`.
pub(super) fn matmul_t(a: &[i64], w: &[i64], n: usize, m: usize, p: usize, sf: i64) -> R<Vec<i64>> {
    let mut out = Vec::with_capacity(n * p);
    for i in 0..n {
        let row = &a[i * m..(i + 1) * m];
        for j in 0..p {
            let col = &w[j * m..(j + 1) * m];
            let acc: i128 = row
                .iter()
                .zip(col)
                .map(|(&x, &y)| i128::from(x) * i128::from(y))
                .sum();
            out.push(rescale(acc, sf.into())?);
        }
    }
    Ok(out)
}

pub(super) fn window_op(
    inp: &Tensor,
    window: (usize, usize),
    stride: (usize, usize),
    f: impl Fn(&[i64]) -> R<i64>,
) -> R<Tensor> {
    rank(inp, 4, "pooling input")?;
    let s = inp.shape();
    if s[0] != 1 {
        return Err(format!("pooling supports batch 1 only, input shape {s:?}"));
    }
    let (h, w, c) = (s[1], s[2], s[3]);
    let ConvGeometry {
        out_h: oh,
        out_w: ow,
        ..
    } = conv_geometry(h, w, window, stride, Padding::Valid)
        .ok_or_else(|| format!("window {window:?} is larger than the input {h}x{w}"))?;
    let x = inp.data();
    let mut out = Vec::with_capacity(oh * ow * c);
    let mut win = Vec::with_capacity(window.0 * window.1);
    for i in 0..oh {
        for j in 0..ow {
            for k in 0..c {
                win.clear();
                for dy in 0..window.0 {
                    for dx in 0..window.1 {
                        let (y, xx) = (i * stride.0 + dy, j * stride.1 + dx);
                        if y < h && xx < w {
                            win.push(x[(y * w + xx) * c + k]);
                        }
                    }
                }
                out.push(f(&win)?);
            }
        }
    }
    Tensor::new(vec![1, oh, ow, c], out)
}

pub(super) fn softmax(inp: &Tensor, mask: Option<&Mask>, sf: i64, min_val: i64) -> R<Tensor> {
    let nd = inp.shape().len();
    if !(2..=4).contains(&nd) || (nd == 4 && inp.shape()[0] != 1) {
        return Err(format!(
            "softmax needs rank 2 or 3 (or 4 with batch 1), got shape {:?}",
            inp.shape()
        ));
    }
    let mask = match mask {
        Some(m) => broadcast_mask(m, inp.shape())?,
        None => vec![0; inp.len()],
    };
    let row = inp.shape()[nd - 1];
    let mut out = vec![0i64; inp.len()];
    if row == 0 {
        return Tensor::new(inp.shape().to_vec(), out);
    }
    for (r, xs) in inp.data().chunks(row).enumerate() {
        let ms = &mask[r * row..(r + 1) * row];
        let kept: Vec<usize> = (0..row).filter(|&i| ms[i] == 0).collect();
        let max = kept
            .iter()
            .map(|&i| xs[i])
            .max()
            .ok_or_else(|| format!("softmax row {r} is entirely masked"))?;
        let exps: Vec<i64> = kept
            .iter()
            .map(|&i| LookupFn::Exp.eval(xs[i] - max, sf, min_val))
            .collect();
        let sum: i128 = exps.iter().map(|&e| i128::from(e)).sum();
        let norm = rescale(sum, sf.into())?;
        if norm <= 0 {
            return Err(format!(
                "softmax row {r}: the normaliser sum/sf rounds to {norm}"
            ));
        }
        for (&i, &e) in kept.iter().zip(&exps) {
            out[r * row + i] = rescale(e.into(), norm.into())?;
        }
    }
    Tensor::new(inp.shape().to_vec(), out)
}

pub(super) fn mean(inp: &Tensor, axes: &[usize], out_shape: &[usize]) -> R<Tensor> {
    let s = inp.shape();
    if s.first() != Some(&1) {
        return Err(format!("mean supports batch 1 only, input shape {s:?}"));
    }
    let keep: Vec<usize> = (1..s.len()).filter(|a| !axes.contains(a)).collect();
    let [keep] = keep[..] else {
        return Err(format!(
            "mean over axes {axes:?} of shape {s:?} must leave exactly one axis"
        ));
    };
    let count = (s.iter().product::<usize>() / s[keep].max(1)) as i128;
    let st = strides(s);
    let mut sums = vec![0i128; s[keep]];
    for (flat, &v) in inp.data().iter().enumerate() {
        sums[(flat / st[keep]) % s[keep]] += i128::from(v);
    }
    let data = sums
        .into_iter()
        .map(|t| rescale(t, count))
        .collect::<R<Vec<_>>>()?;
    Tensor::new(out_shape.to_vec(), data)
}

pub(super) fn concat(parts: &[&Tensor], axis: usize) -> R<Tensor> {
    let first = parts[0].shape();
    let mut shape = first.to_vec();
    shape[axis] = 0;
    for p in parts {
        let ps = p.shape();
        if ps.len() != first.len() || (0..first.len()).any(|a| a != axis && ps[a] != first[a]) {
            return Err(format!(
                "cannot concatenate shapes {first:?} and {ps:?} along axis {axis}"
            ));
        }
        shape[axis] += ps[axis];
    }
    let outer: usize = first[..axis].iter().product();
    let mut out = Vec::with_capacity(numel(&shape).unwrap_or(0));
    for o in 0..outer {
        for p in parts {
            let chunk: usize = p.shape()[axis..].iter().product();
            out.extend_from_slice(&p.data()[o * chunk..(o + 1) * chunk]);
        }
    }
    Tensor::new(shape, out)
}
