//! Element-wise arithmetic, ReLU, the table functions, and GELU.

use super::{Lowerer, Node, R};

/// A constant whose values are all equal, as that value.
fn uniform(l: &Lowerer<'_>, name: &str) -> Option<f64> {
    let c = l.constant(name).filter(|_| l.activation(name).is_none())?;
    let first = *c.values.first()?;
    c.values.iter().all(|&v| v == first).then_some(first)
}

/// `x · v` for a real constant `v` (rescaled: `round(x · round(v·sf) / sf)`).
pub(super) fn scale_by(l: &mut Lowerer<'_>, n: &Node<'_>, x: i64, v: f64) -> R<i64> {
    let c = l.quant_tensor(n, &[1], &[v])?;
    let s = l.shape(x);
    Ok(l.layer("Mul", vec![], &[x, c], s))
}

/// `x + v` for a real constant `v`.
fn add_const(l: &mut Lowerer<'_>, n: &Node<'_>, x: i64, v: f64) -> R<i64> {
    let c = l.quant_tensor(n, &[1], &[v])?;
    let s = l.shape(x);
    Ok(l.layer("Add", vec![0], &[x, c], s))
}

pub(super) fn arithmetic(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let out = l.out_shape(n, 0)?;
    let op = n.pb.op_type.as_str();
    if op == "Neg" {
        let x = l.operand(n, 0)?;
        let y = scale_by(l, n, x, -1.0)?;
        return l.define(n, 0, y);
    }
    if op == "Div" {
        let b_name = l.need(n, 1)?;
        if let Some(d) = uniform(l, b_name) {
            let a = l.operand(n, 0)?;
            let y = if d >= 1.0 && d.fract() == 0.0 && d < 2f64.powi(31) {
                l.layer("Div", vec![d as i64], &[a], out)
            } else if d == 0.0 {
                return Err(l.fail(n, "division by the constant 0"));
            } else {
                scale_by(l, n, a, 1.0 / d)?
            };
            return l.define(n, 0, y);
        }
        if l.activation(b_name).is_none() {
            return Err(l.fail(
                n,
                "division by a constant tensor of differing values is not supported",
            ));
        }
        // x / sqrt(v) → x · rsqrt(v) where the Sqrt feeds only this node.
        if let Some(sq) = sqrt_source(l, b_name) {
            let a = l.operand(n, 0)?;
            let s = l.shape(sq);
            let r = l.layer("Rsqrt", vec![], &[sq], s);
            let y = l.layer("Mul", vec![], &[a, r], out);
            return l.define(n, 0, y);
        }
        let a = l.operand(n, 0)?;
        let b = l.operand(n, 1)?;
        if l.shape(b).iter().product::<usize>() != 1 {
            return Err(l.fail(
                n,
                "division by a tensor is supported only by a single value (DivVar) or by a Sqrt (as Rsqrt)",
            ));
        }
        let y = l.layer("DivVar", vec![], &[a, b], out);
        return l.define(n, 0, y);
    }
    let a = l.operand(n, 0)?;
    let b = l.operand(n, 1)?;
    let (ty, mut params) = match op {
        "Add" => ("Add", vec![0]),
        "Sub" => ("Sub", vec![]),
        _ => ("Mul", vec![]),
    };
    let mut last = n.output(0).to_string();
    if op == "Add" {
        if let Some((i, pb)) = l.fusable(&last, &["Relu"]) {
            l.absorbed.insert(i);
            params = vec![1];
            last = pb.output[0].clone();
        }
    }
    let y = l.layer(ty, params, &[a, b], out);
    l.define_name(n, &last, y)
}

/// The input of the Sqrt node that produces `value`, when that node feeds nothing else.
fn sqrt_source(l: &mut Lowerer<'_>, value: &str) -> Option<i64> {
    let i =
        l.g.nodes
            .iter()
            .position(|p| p.op_type == "Sqrt" && p.output.first().is_some_and(|o| o == value))?;
    l.g.sole_consumer(value)?;
    let input = l.g.nodes[i].input.first()?.clone();
    l.activation(&input)
}

/// `relu(x + c)` for a real constant `c`: one Add with ReLU.
fn relu_shifted(l: &mut Lowerer<'_>, n: &Node<'_>, x: i64, c: f64) -> R<i64> {
    let k = l.quant_tensor(n, &[1], &[c])?;
    let s = l.shape(x);
    Ok(l.layer("Add", vec![1], &[x, k], s))
}

/// Relu, and Clip with any constant bounds, exactly in integers: `clip(x, lo, hi) = hi − relu(hi − (lo + relu(x
/// − lo)))` at the quantised bounds (a Clip(0, 6) right after a Conv is fused into it instead).
pub(super) fn relu(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let (lo, hi) = if n.pb.op_type == "Clip" {
        l.clip_bounds(n)
    } else {
        (Some(0.0), None)
    };
    if let (Some(a), Some(b)) = (lo, hi) {
        if a > b {
            return Err(l.fail(n, format!("Clip's min {a} exceeds its max {b}")));
        }
    }
    let mut y = l.operand(n, 0)?;
    if let Some(lo) = lo {
        y = relu_shifted(l, n, y, -lo)?;
        if lo != 0.0 {
            y = add_const(l, n, y, lo)?;
        }
    }
    if let Some(hi) = hi {
        let s = l.shape(y);
        let h = l.quant_tensor(n, &[1], &[hi])?;
        let t = l.layer("Sub", vec![], &[h, y], s.clone());
        let r = relu_shifted(l, n, t, 0.0)?;
        y = l.layer("Sub", vec![], &[h, r], s);
    }
    l.define(n, 0, y)
}

pub(super) fn table(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let s = l.shape(x);
    let y = match n.pb.op_type.as_str() {
        "Sigmoid" => l.layer("Logistic", vec![], &[x], s),
        "Tanh" => l.layer("Tanh", vec![], &[x], s),
        "Sqrt" => l.layer("Sqrt", vec![], &[x], s),
        "Exp" => {
            // e^x at scale sf², rescaled to sf.
            let e = l.layer("Exp", vec![], &[x], s.clone());
            l.layer("Div", vec![l.w.scale()], &[e], s)
        }
        _ => {
            let e_name = l.need(n, 1)?;
            let e = uniform(l, e_name)
                .ok_or_else(|| l.fail(n, "the exponent must be one constant value"))?;
            if e == 1.0 {
                x
            } else if e == 2.0 {
                l.layer("Square", vec![], &[x], s)
            } else if e == 3.0 {
                l.layer("Pow", vec![3], &[x], s)
            } else if e == 0.5 {
                l.layer("Sqrt", vec![], &[x], s)
            } else {
                return Err(l.fail(
                    n,
                    format!("exponent {e}: only 0.5, 1, 2 and 3 are supported"),
                ));
            }
        }
    };
    l.define(n, 0, y)
}

/// `tanh(c · (z + d · z³))`, through the cube and tanh tables.
fn tanh_cubic(l: &mut Lowerer<'_>, n: &Node<'_>, z: i64, c: f64, d: f64) -> R<i64> {
    let s = l.shape(z);
    let cube = l.layer("Pow", vec![3], &[z], s.clone());
    let dc = scale_by(l, n, cube, d)?;
    let u = l.layer("Add", vec![0], &[z, dc], s.clone());
    let v = scale_by(l, n, u, c)?;
    Ok(l.layer("Tanh", vec![], &[v], s))
}

pub(super) fn gelu(l: &mut Lowerer<'_>, n: &Node<'_>) -> R<()> {
    let x = l.operand(n, 0)?;
    let pi = std::f64::consts::PI;
    let y = if n.pb.op_type == "Erf" {
        // erf(z) ≈ tanh(2/√π · (z + 0.044715·2 · z³)): GELU's tanh form with x = √2·z.
        tanh_cubic(l, n, x, 2.0 / pi.sqrt(), 0.044715 * 2.0)?
    } else {
        // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
        let t = tanh_cubic(l, n, x, (2.0 / pi).sqrt(), 0.044715)?;
        let one = add_const(l, n, t, 1.0)?;
        let s = l.shape(x);
        let h = l.layer("Mul", vec![], &[x, one], s);
        scale_by(l, n, h, 0.5)?
    };
    l.define(n, 0, y)
}
