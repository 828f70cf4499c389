//! Layout operators: reshapes, transposes, concatenation, slicing, gathering by constant indices, padding.
//! None of them costs a constraint in a proof: they rearrange cells.

use super::{Lowerer, Node, R};

pub(super) fn reshape(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let out = l.out_shape(n, 0)?;
    if out.iter().product::<usize>() != l.shape(x).iter().product::<usize>() {
        return Err(l.fail(n, format!("cannot reshape {:?} to {out:?}", l.shape(x))));
    }
    let y = l.reshape(x, &out);
    l.define(n, 0, y)
}

pub(super) fn transpose(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let rank = l.shape(x).len();
    let perm: Vec<usize> = match n.ints("perm") {
        Some(p) => p.iter().map(|&a| l.axis(n, a, rank)).collect::<R<_>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut seen = perm.clone();
    seen.sort_unstable();
    if seen != (0..rank).collect::<Vec<_>>() {
        return Err(l.fail(
            n,
            format!("perm {perm:?} is not a permutation of {rank} axes"),
        ));
    }
    let y = l.transpose(x, &perm);
    l.define(n, 0, y)
}

pub(super) fn concat(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let out = l.out_shape(n, 0)?;
    let a = l.axis(n, n.int("axis").unwrap_or(0), out.len())?;
    let mut ins = Vec::new();
    for k in 0..n.pb.input.len() {
        let x = l.operand(n, k)?;
        if l.shape(x).get(a) != Some(&0) {
            ins.push(x);
        }
    }
    let y = l.layer("Concatenation", vec![a as i64], &ins, out);
    l.define(n, 0, y)
}

/// `x[begin .. begin + size]` along every axis.
fn take(l: &mut Lowerer<'_>, x: i64, begin: &[usize], size: &[usize]) -> i64 {
    let s = l.shape(x);
    if begin.iter().all(|&b| b == 0) && size == s.as_slice() {
        return x;
    }
    let mut params: Vec<i64> = begin.iter().map(|&b| b as i64).collect();
    params.extend(size.iter().map(|&v| v as i64));
    l.layer("Slice", params, &[x], size.to_vec())
}

pub(super) fn slice(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let s = l.shape(x);
    let starts = l.need_ints(n, 1)?;
    let ends = l.need_ints(n, 2)?;
    let axes = match n.input(3) {
        Some(_) => l.need_ints(n, 3)?,
        None => (0..starts.len() as i64).collect(),
    };
    let steps = match n.input(4) {
        Some(_) => l.need_ints(n, 4)?,
        None => vec![1; starts.len()],
    };
    if [ends.len(), axes.len(), steps.len()]
        .iter()
        .any(|&v| v != starts.len())
    {
        return Err(l.fail(n, "starts, ends, axes and steps differ in length"));
    }
    let mut begin = vec![0usize; s.len()];
    let mut size = s.clone();
    for i in 0..starts.len() {
        if steps[i] != 1 {
            return Err(l.fail(n, format!("step {}: only step 1 is supported", steps[i])));
        }
        let a = l.axis(n, axes[i], s.len())?;
        let d = s[a] as i64;
        let clamp = |v: i64| {
            if v < 0 {
                (v + d).clamp(0, d)
            } else {
                v.clamp(0, d)
            }
        };
        let (b, e) = (clamp(starts[i]), clamp(ends[i]));
        begin[a] = b as usize;
        size[a] = (e - b).max(0) as usize;
    }
    let y = take(l, x, &begin, &size);
    l.define(n, 0, y)
}

pub(super) fn split(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let s = l.shape(x);
    let a = l.axis(n, n.int("axis").unwrap_or(0), s.len())?;
    let mut at = 0;
    for k in 0..n.pb.output.len() {
        if n.output(k).is_empty() {
            continue;
        }
        let part = l.out_shape(n, k)?;
        let mut begin = vec![0; s.len()];
        begin[a] = at;
        at += part[a];
        let y = take(l, x, &begin, &part);
        l.define(n, k, y)?;
    }
    Ok(())
}

pub(super) fn gather(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let s = l.shape(x);
    let a = l.axis(n, n.int("axis").unwrap_or(0), s.len())?;
    let idx = l.need_const(n, 1)?;
    let out = l.out_shape(n, 0)?;
    let mut parts = Vec::new();
    for &v in &idx.values {
        let i = l
            .axis(n, v as i64, s[a])
            .map_err(|_| l.fail(n, format!("index {v} is out of range for {} entries", s[a])))?;
        let mut begin = vec![0; s.len()];
        begin[a] = i;
        let mut size = s.clone();
        size[a] = 1;
        parts.push(take(l, x, &begin, &size));
    }
    let y = match parts.as_slice() {
        [one] => *one,
        _ => {
            let mut shape = s.clone();
            shape[a] = parts.len();
            l.layer("Concatenation", vec![a as i64], &parts, shape)
        }
    };
    let y = l.reshape(y, &out);
    l.define(n, 0, y)
}

pub(super) fn pad(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let mode = n.string("mode").unwrap_or_else(|| "constant".into());
    if mode != "constant" {
        return Err(l.fail(
            n,
            format!("mode {mode}: only constant padding is supported"),
        ));
    }
    if let Some(v) = n.input(2).and_then(|v| l.constant(v)) {
        if v.values.iter().any(|&x| x != 0.0) {
            return Err(l.fail(n, "only padding with 0 is supported"));
        }
    }
    if n.input(3).is_some() {
        return Err(l.fail(
            n,
            "the axes input is not supported (give pads for every axis)",
        ));
    }
    let x = l.operand(n, 0)?;
    let s = l.shape(x);
    let pads = l.need_ints(n, 1)?;
    if pads.len() != 2 * s.len() || pads.iter().any(|&p| p < 0) {
        return Err(l.fail(
            n,
            format!("pads {pads:?}: two non-negative values per axis are supported"),
        ));
    }
    let r = s.len();
    let mut params = Vec::new();
    let mut out = s.clone();
    for a in 0..r {
        params.extend([pads[a], pads[a + r]]);
        out[a] += (pads[a] + pads[a + r]) as usize;
    }
    let y = l.layer("Pad", params, &[x], out);
    l.define(n, 0, y)
}

pub(super) fn expand(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let out = l.out_shape(n, 0)?;
    let y = if l.shape(x) == out {
        x
    } else {
        l.layer("Broadcast", vec![], &[x], out)
    };
    l.define(n, 0, y)
}
