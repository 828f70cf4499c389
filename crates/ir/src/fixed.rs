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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// Every function, in a fixed order.
    pub const ALL: [LookupFn; 9] = [
        LookupFn::Exp,
        LookupFn::Logistic,
        LookupFn::Tanh,
        LookupFn::Rsqrt,
        LookupFn::Sqrt,
        LookupFn::Cube,
        LookupFn::Sin,
        LookupFn::Cos,
        LookupFn::Relu,
    ];

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

/// A maximal run of a lookup function: every input `q` in `lo..=hi` maps to `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Run {
    /// First input of the run.
    pub lo: i64,
    /// Last input of the run (inclusive).
    pub hi: i64,
    /// The function's value on the run.
    pub y: i64,
}

impl LookupFn {
    /// Whether [`LookupFn::runs`] may search for run ends (the function is monotone between the split points
    /// `min_val`, 0 and 1) rather than scan every input.
    pub fn is_piecewise_monotone(self) -> bool {
        !matches!(self, LookupFn::Sin | LookupFn::Cos)
    }

    /// The function ([`LookupFn::eval`], zkml's `min_val` rule included) on `lo..=hi` as maximal runs of equal
    /// values, in input order, each at most `max_len` inputs long (longer runs are split).
    ///
    /// This is the table a circuit needs: its size is the number of distinct steps of the function, not the
    /// width of the domain, so saturating functions (exp, logistic, tanh) give small tables over any range.
    /// Monotone pieces are walked by galloping search (cost ∝ runs × log(run length)); sin and cos are scanned
    /// input by input.
    pub fn runs(self, sf: i64, min_val: i64, lo: i64, hi: i64, max_len: u64) -> Vec<Run> {
        assert!(max_len >= 1, "runs must be allowed at least one input");
        let g = |q: i64| self.eval(q, sf, min_val);
        // Points where a monotone function may turn or jump: zkml's forced entry, and the poles of sqrt/rsqrt.
        let mut cuts: Vec<i64> = [min_val, -1, 0, 1]
            .into_iter()
            .filter(|c| (lo..=hi).contains(c))
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces = Vec::new();
        let mut start = lo;
        for c in cuts {
            if c > start {
                pieces.push((start, c - 1));
            }
            pieces.push((c, c));
            start = c + 1;
        }
        if start <= hi {
            pieces.push((start, hi));
        }
        let mut out: Vec<Run> = Vec::new();
        let mut push = |lo: i64, hi: i64, y: i64| match out.last_mut() {
            Some(last) if last.y == y && last.hi + 1 == lo => last.hi = hi,
            _ => out.push(Run { lo, hi, y }),
        };
        for (a, b) in pieces {
            let mut q = a;
            while q <= b {
                let v = g(q);
                let end = if self.is_piecewise_monotone() {
                    // Largest e in [q, b] with g(e) == v: gallop, then bisect between `good` and `bad`.
                    let (mut good, mut bad) = (q, None);
                    let mut step: i64 = 1;
                    while good < b {
                        let t = good.saturating_add(step).min(b);
                        if g(t) == v {
                            good = t;
                            step = step.saturating_mul(2);
                        } else {
                            bad = Some(t);
                            break;
                        }
                    }
                    if let Some(mut bad) = bad {
                        while bad - good > 1 {
                            let mid = good + (bad - good) / 2;
                            if g(mid) == v {
                                good = mid;
                            } else {
                                bad = mid;
                            }
                        }
                    }
                    good
                } else {
                    let mut e = q;
                    while e < b && g(e + 1) == v {
                        e += 1;
                    }
                    e
                };
                push(q, end, v);
                q = end + 1;
            }
        }
        // Split runs longer than `max_len`.
        let mut split = Vec::with_capacity(out.len());
        for r in out {
            let mut s = r.lo;
            loop {
                let len_left = (r.hi - s) as u64 + 1;
                let take = len_left.min(max_len) as i64;
                split.push(Run {
                    lo: s,
                    hi: s + take - 1,
                    y: r.y,
                });
                if s + take > r.hi {
                    break;
                }
                s += take;
            }
        }
        split
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

    /// Every run, checked input by input against `eval` over small domains for every function and several
    /// scales, with `min_val` inside the domain.
    #[test]
    fn runs_agree_with_eval_everywhere() {
        for f in LookupFn::ALL {
            for (sf, min_val) in [(4, -64), (16, -300), (512, -(1 << 14))] {
                let (lo, hi) = (-20_000, 20_000);
                for max_len in [1_000_000u64, 7] {
                    let runs = f.runs(sf, min_val, lo, hi, max_len);
                    assert_eq!(runs.first().map(|r| r.lo), Some(lo));
                    assert_eq!(runs.last().map(|r| r.hi), Some(hi));
                    for w in runs.windows(2) {
                        assert_eq!(w[0].hi + 1, w[1].lo, "{f:?}: runs must tile the domain");
                        if max_len > 100 {
                            assert_ne!(w[0].y, w[1].y, "{f:?}: runs must be maximal");
                        }
                    }
                    for r in &runs {
                        assert!(((r.hi - r.lo) as u64) < max_len);
                        for q in r.lo..=r.hi {
                            assert_eq!(f.eval(q, sf, min_val), r.y, "{f:?} sf={sf} q={q}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn saturating_functions_have_small_tables_over_wide_domains() {
        let (sf, min_val) = (2048, -(1 << 24));
        let d = (1 << 26) - 1;
        let tanh = LookupFn::Tanh.runs(sf, min_val, -d, d, d as u64);
        // tanh·sf takes the 2·sf + 1 values −sf..=sf, plus zkml's forced 0 at min_val splitting a run.
        assert!(tanh.len() <= 2 * sf as usize + 4, "{}", tanh.len());
        let logistic = LookupFn::Logistic.runs(sf, min_val, -d, d, d as u64);
        assert!(logistic.len() <= sf as usize + 4, "{}", logistic.len());
        let min_run = tanh
            .iter()
            .find(|r| r.lo <= min_val && min_val <= r.hi)
            .expect("a run holds min_val");
        assert_eq!((min_run.lo, min_run.hi, min_run.y), (min_val, min_val, 0));
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
