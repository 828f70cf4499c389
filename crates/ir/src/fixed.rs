//! zkml's fixed-point arithmetic: rounding division and the lookup-table functions.
//!
//! A real number `x` is stored as `q = round(x * sf)`. Rescaling is always round half up,
//! `c = floor((2a + b) / (2b))`, which zkml's circuit enforces as `2a + b = 2b·c + r` with `0 ≤ r < 2b`.
//! Non-linear functions are lookup tables indexed by `q - min_val` with `min_val = -2^(k-1)`; entry 0 of
//! every table is forced to 0, so the input `min_val` itself maps to 0 whatever the function.

/// Round-half-up division `floor((2a + b) / (2b))`; `None` if `b <= 0` or the quotient leaves `i64`.
pub fn div_round(a: i128, b: i128) -> Option<i64> {
    if b <= 0 {
        return None;
    }
    let num = a.checked_mul(2)?.checked_add(b)?;
    let den = b.checked_mul(2)?;
    i64::try_from(num.div_euclid(den)).ok()
}

/// The remainder `r = 2a + b - 2b·c` that zkml's rescale gate witnesses; always in `[0, 2b)`.
pub fn div_round_remainder(a: i128, b: i128) -> Option<i128> {
    let c = i128::from(div_round(a, b)?);
    Some(2 * a + b - 2 * b * c)
}

/// A function that zkml computes by table lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LookupFn {
    /// `round(e^x · sf²)`: the softmax numerator, at scale sf².
    Exp,
    /// `round(σ(x) · sf)`.
    Logistic,
    /// `round(tanh(x) · sf)`.
    Tanh,
    /// `round(sf / √x)`; non-positive inputs follow Rust's float-to-int cast (NaN → 0, +∞ → `i64::MAX`).
    Rsqrt,
    /// `round(√x · sf)`; negative inputs give NaN, which casts to 0.
    Sqrt,
    /// `round(x³ · sf)`, the cube in real terms (zkml's only supported exponent).
    Cube,
    /// `round(sin(x) · sf)`.
    Sin,
    /// `round(cos(x) · sf)`.
    Cos,
    /// `max(q, 0)`, exact.
    Relu,
}

impl LookupFn {
    /// The value of the function for a fixed-point input `q` at scale `sf`, before the table-index-0 rule.
    pub fn eval_raw(self, q: i64, sf: i64) -> i64 {
        let s = sf as f64;
        let x = (q as f64) / s;
        // `as i64` saturates and maps NaN to 0, exactly as zkml's table generator does.
        match self {
            LookupFn::Exp => (x.exp() * (s * s)).round() as i64,
            LookupFn::Logistic => ((1.0 / (1.0 + (-x).exp())) * s).round() as i64,
            LookupFn::Tanh => (x.tanh() * s).round() as i64,
            LookupFn::Rsqrt => ((1.0 / x.sqrt()) * s).round() as i64,
            LookupFn::Sqrt => (x.sqrt() * s).round() as i64,
            LookupFn::Cube => (x.powi(3) * s).round() as i64,
            LookupFn::Sin => (x.sin() * s).round() as i64,
            LookupFn::Cos => (x.cos() * s).round() as i64,
            LookupFn::Relu => q.max(0),
        }
    }

    /// The value zkml's lookup gives: [`LookupFn::eval_raw`], except 0 at `q == min_val` (table entry 0).
    pub fn eval(self, q: i64, sf: i64, min_val: i64) -> i64 {
        if q == min_val {
            0
        } else {
            self.eval_raw(q, sf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn div_round_is_round_half_up() {
        // Exact halves round towards +infinity, for both signs.
        assert_eq!(div_round(3, 2), Some(2)); // 1.5 -> 2
        assert_eq!(div_round(-3, 2), Some(-1)); // -1.5 -> -1
        assert_eq!(div_round(5, 2), Some(3)); // 2.5 -> 3
        assert_eq!(div_round(-5, 2), Some(-2)); // -2.5 -> -2
        assert_eq!(div_round(7, 4), Some(2)); // 1.75 -> 2
        assert_eq!(div_round(-7, 4), Some(-2)); // -1.75 -> -2
        assert_eq!(div_round(-1, 4), Some(0)); // -0.25 -> 0
        assert_eq!(div_round(0, 9), Some(0));
        assert_eq!(div_round(1, 0), None);
        assert_eq!(div_round(1, -3), None);
    }

    #[test]
    fn remainder_is_in_range() {
        for a in -40..40 {
            for b in 1..9 {
                let r = div_round_remainder(a, b).expect("defined");
                assert!((0..2 * b).contains(&r), "a={a} b={b} r={r}");
            }
        }
    }

    #[test]
    fn lookup_values_worked_by_hand() {
        let sf = 512;
        assert_eq!(LookupFn::Exp.eval_raw(0, sf), 512 * 512);
        assert_eq!(LookupFn::Logistic.eval_raw(0, sf), 256);
        assert_eq!(LookupFn::Tanh.eval_raw(0, sf), 0);
        assert_eq!(LookupFn::Sqrt.eval_raw(4 * 512, sf), 1024);
        assert_eq!(LookupFn::Rsqrt.eval_raw(4 * 512, sf), 256);
        assert_eq!(LookupFn::Rsqrt.eval_raw(0, sf), i64::MAX); // 1/0 = inf saturates
        assert_eq!(LookupFn::Rsqrt.eval_raw(-5, sf), 0); // NaN casts to 0
        assert_eq!(LookupFn::Cube.eval_raw(2 * 512, sf), 8 * 512);
        assert_eq!(LookupFn::Cube.eval_raw(-256, sf), -64); // (-0.5)^3 = -0.125
        assert_eq!(LookupFn::Sin.eval_raw(0, sf), 0);
        assert_eq!(LookupFn::Cos.eval_raw(0, sf), 512);
        assert_eq!(LookupFn::Relu.eval_raw(-7, sf), 0);
        assert_eq!(LookupFn::Relu.eval_raw(7, sf), 7);
        // Table entry 0 (input min_val) is forced to zero: tanh(very negative) would be -sf.
        assert_eq!(LookupFn::Tanh.eval(-(1 << 14), sf, -(1 << 14)), 0);
        assert_eq!(LookupFn::Tanh.eval(-(1 << 14) + 1, sf, -(1 << 14)), -512);
    }
}
