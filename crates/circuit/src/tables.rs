//! The function tables a slice needs: which (function, domain) pairs its layers look up, each as runs.
//!
//! Standalone lookups cover `[−(2^26 − 1), 2^26 − 1]` (every value a [`crate::MIN_RANGE_BITS`]-bit range check
//! can pass, and more), except sin and cos, which are not monotone and keep zkml's own domain
//! `[min_val, max_val]`, and x³, whose table stops where its value leaves that range. Softmax's exponential only ever sees `x − max ≤ 0`, so its table stops at 0. Runs are
//! at most `2^26 − 1` long, so the chip's two differences always fit a range check of at least 26 bits.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use dzk_gadgets::lookup::FnChip;

use dzk_gadgets::lookup::{FnTable, Run};
use dzk_ir::{LookupFn, Model, Op};

use crate::MIN_RANGE_BITS;

/// Which table a lookup uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TableKey {
    /// A lookup layer's function over its whole domain.
    Full(LookupFn),
    /// Softmax's numerator `e^x · sf²` for `x ≤ 0`.
    SoftmaxExp,
}

/// The widest input magnitude a table covers, and the longest run.
const SPAN: i64 = (1 << MIN_RANGE_BITS) - 1;

/// Whether a lookup layer of function `f` at scale `sf` goes through a table: ReLU is a comparison instead, and
/// the square root at a power-of-two scale is exact integer arithmetic (see `layers::sqrt_exact`).
pub(crate) fn uses_table(f: LookupFn, sf: i64) -> bool {
    match f {
        LookupFn::Relu => false,
        LookupFn::Sqrt => !sqrt_is_exact(sf),
        _ => true,
    }
}

/// Whether zkml's `f64` square root at scale `sf` equals the exact `floor(√(q·sf) + 1/2)` for every `q ≥ 0` a
/// range check passes: true when `sf` is a power of two. Then `q/sf` and `·sf` are exact in `f64`, `sqrt` is
/// correctly rounded, and `√N` (N = q·sf < 2^47) is never within half an ulp of a half-integer: its distance
/// from `m + 1/2` is `|N − m² − m − 1/4| / (√N + m + 1/2) ≥ 2^−26`, while half an ulp below `2^24` is `2^−30`.
pub(crate) fn sqrt_is_exact(sf: i64) -> bool {
    sf >= 2 && (sf as u64).is_power_of_two() && sf <= 1 << 20
}

/// The table keys the layers `start..end` use, in tag order (tags are 1, 2, … in this order).
pub(crate) fn keys(model: &Model, start: usize, end: usize) -> Vec<TableKey> {
    let mut keys: Vec<TableKey> = model.layers()[start..end]
        .iter()
        .filter_map(|l| match &l.op {
            Op::Lookup { f, .. } if uses_table(*f, model.scale()) => Some(TableKey::Full(*f)),
            Op::Softmax { .. } => Some(TableKey::SoftmaxExp),
            _ => None,
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

type Cache = Mutex<BTreeMap<(TableKey, i64, i64, i64), Arc<[Run]>>>;

/// The runs of one table for a model's scale and `min_val`/`max_val`, computed once per process.
fn runs(key: TableKey, sf: i64, min_val: i64, max_val: i64) -> Arc<[Run]> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    let id = (key, sf, min_val, max_val);
    if let Some(r) = cache.lock().ok().and_then(|c| c.get(&id).cloned()) {
        return r;
    }
    let (f, lo, hi) = match key {
        TableKey::SoftmaxExp => (LookupFn::Exp, -SPAN, 0),
        TableKey::Full(f) if grows(f) => {
            let fits = |q: i64| f.eval_raw(q, sf).unsigned_abs() <= SPAN as u64;
            match f {
                // eˣ·sf² increases: it fits from −SPAN (where it is 0) up to a last input, which is below 0 from
                // sf = 2^13 on, where e⁰·sf² = sf² ≥ 2^26 no longer fits.
                LookupFn::Exp => (f, -SPAN, last_true(-SPAN, SPAN, &fits).unwrap_or(-SPAN)),
                // x³·sf is 0 at 0 and grows both ways.
                _ => (
                    f,
                    first_true(-SPAN, 0, &fits).unwrap_or(0),
                    last_true(0, SPAN, &fits).unwrap_or(0),
                ),
            }
        }
        TableKey::Full(f) if f.is_piecewise_monotone() => (f, -SPAN, SPAN),
        TableKey::Full(f) => (f, min_val.max(-SPAN), max_val.min(SPAN)),
    };
    let runs: Arc<[Run]> = f
        .runs(sf, min_val, lo, hi, SPAN as u64)
        .into_iter()
        .map(|r| Run {
            lo: r.lo,
            hi: r.hi,
            y: r.y.into(),
        })
        .collect();
    if let Ok(mut c) = cache.lock() {
        c.insert(id, runs.clone());
    }
    runs
}

/// Functions that grow without bound (x³, and eˣ outside softmax): their tables hold only the inputs whose
/// `|f(x)|` is at most `2^26 − 1` (beyond it no later rescale or commitment could take the value anyway), which
/// keeps them to a few steps per input instead of `2^27`. For x³ that is an interval around 0; for eˣ (at scale
/// sf²) every input up to the last one that fits, which is below 0 once `sf ≥ 2^13` (`e⁰·sf² = sf² ≥ 2^26`).
fn grows(f: LookupFn) -> bool {
    matches!(f, LookupFn::Cube | LookupFn::Exp)
}

/// The smallest `q` in `[a, b]` with `p(q)`, for `p` false then true; `None` when `p(b)` does not hold (then
/// no `q` does).
fn first_true(mut a: i64, mut b: i64, p: &dyn Fn(i64) -> bool) -> Option<i64> {
    if !p(b) {
        return None;
    }
    while a < b {
        let mid = a + (b - a) / 2;
        if p(mid) {
            b = mid;
        } else {
            a = mid + 1;
        }
    }
    Some(a)
}

/// The largest `q` in `[a, b]` with `p(q)`, for `p` true then false; `None` when `p(a)` does not hold (then
/// no `q` does).
fn last_true(mut a: i64, mut b: i64, p: &dyn Fn(i64) -> bool) -> Option<i64> {
    if !p(a) {
        return None;
    }
    while a < b {
        let mid = a + (b - a + 1) / 2;
        if p(mid) {
            a = mid;
        } else {
            b = mid - 1;
        }
    }
    Some(a)
}

/// The slice's tables, tagged 1, 2, … and loaded in [`keys`] order.
pub(crate) fn tables(model: &Model, start: usize, end: usize) -> Vec<(TableKey, FnTable)> {
    let mut first = 0;
    keys(model, start, end)
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let runs = runs(key, model.scale(), model.min_val(), model.max_val());
            let t = FnTable {
                tag: i as u64 + 1,
                first,
                runs,
            };
            first += t.runs.len();
            (key, t)
        })
        .collect()
}

/// The rows of one function table (its runs).
pub(crate) fn key_rows(key: TableKey, model: &Model) -> usize {
    runs(key, model.scale(), model.min_val(), model.max_val()).len()
}

/// The inputs table `key` covers, `[first run's lo, last run's hi]`.
pub(crate) fn domain(key: TableKey, model: &Model) -> (i64, i64) {
    let runs = runs(key, model.scale(), model.min_val(), model.max_val());
    (
        runs.first().map_or(0, |r| r.lo),
        runs.last().map_or(-1, |r| r.hi),
    )
}

/// Checks that every value the slice's lookups will see (from the forward pass `trace`) lies in its table's
/// domain, so a prover gets a clear error instead of an unsatisfiable circuit.
pub(crate) fn check_domains(
    model: &Model,
    start: usize,
    end: usize,
    trace: &dzk_ir::Trace,
) -> Result<(), crate::CircuitError> {
    for (index, l) in model.layers().iter().enumerate().take(end).skip(start) {
        let (key, values): (TableKey, Vec<i64>) = match &l.op {
            Op::Lookup { f, replace } if uses_table(*f, model.scale()) => {
                let Some(t) = l.inputs.first().and_then(|&i| trace.tensor(i)) else {
                    continue;
                };
                let skip: Vec<usize> = replace.iter().map(|r| r.0).collect();
                let vals = t
                    .data()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !skip.contains(i))
                    .map(|(_, &v)| v)
                    .collect();
                (TableKey::Full(*f), vals)
            }
            Op::Softmax { .. } => {
                // Softmax looks up x − max(row) ≥ min(row) − max(row).
                let Some(t) = l.inputs.first().and_then(|&i| trace.tensor(i)) else {
                    continue;
                };
                let row = t.shape().last().copied().unwrap_or(1).max(1);
                let vals = t
                    .data()
                    .chunks(row)
                    .map(|r| {
                        let (lo, hi) = (r.iter().min(), r.iter().max());
                        lo.zip(hi).map_or(0, |(lo, hi)| lo - hi)
                    })
                    .collect();
                (TableKey::SoftmaxExp, vals)
            }
            _ => continue,
        };
        let (lo, hi) = domain(key, model);
        if let Some(v) = values.iter().find(|v| !(lo..=hi).contains(*v)) {
            let what = if matches!(key, TableKey::SoftmaxExp) {
                "a softmax row spans"
            } else {
                "input value"
            };
            return Err(crate::CircuitError::OutOfRange {
                index,
                layer_type: l.layer_type.clone(),
                reason: format!(
                    "{what} {v}, outside the function table's domain [{lo}, {hi}]; no proof can be made"
                ),
            });
        }
    }
    Ok(())
}

/// Table rows the slice's tables take in each of `groups` groups (0 without any).
pub(crate) fn table_rows(model: &Model, start: usize, end: usize, groups: usize) -> usize {
    let tables: Vec<FnTable> = tables(model, start, end)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    if tables.is_empty() {
        0
    } else {
        FnChip::table_rows(&tables, groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(n: i128) -> i64 {
        // floor(√n + 1/2) by integers: the largest y with (2y − 1)² ≤ 4n, i.e. y² − y + 1/4 ≤ n.
        let mut y = (n as f64).sqrt() as i128;
        while (2 * y + 1) * (2 * y + 1) <= 4 * n {
            y += 1;
        }
        while y > 0 && (2 * y - 1) * (2 * y - 1) > 4 * n {
            y -= 1;
        }
        y as i64
    }

    /// The argument in `sqrt_is_exact`, checked: zkml's `f64` square root equals the integer one on every input
    /// up to 2^20 and on a spread of inputs up to 2^26, at every power-of-two scale zkml's models use.
    #[test]
    fn f64_sqrt_equals_integer_sqrt_at_power_of_two_scales() {
        for sf in [2i64, 16, 512, 2048, 8192, 16384] {
            assert!(sqrt_is_exact(sf));
            let dense = 0..(1i64 << 20);
            let spread = (0..200_000i64).map(|i| (1 << 26) - 1 - i * 331);
            for q in dense.chain(spread) {
                assert_eq!(
                    LookupFn::Sqrt.eval_raw(q, sf),
                    exact(i128::from(q) * i128::from(sf)),
                    "sf={sf} q={q}"
                );
            }
        }
        assert!(!sqrt_is_exact(1000));
    }

    /// The tables of x³ and of eˣ outside softmax hold exactly the inputs whose value fits `2^26 − 1`, at every
    /// scale: at sf ≥ 2^13 eˣ·sf² at 0 is already past it, and the table stops below 0.
    #[test]
    fn growing_tables_stop_where_the_value_stops_fitting_at_every_scale() {
        for sf in [256i64, 4096, 1 << 13, 1 << 14, 1 << 17] {
            for f in [LookupFn::Exp, LookupFn::Cube] {
                let runs = runs(TableKey::Full(f), sf, -(1 << 20), (1 << 20) - 1);
                let (lo, hi) = (runs[0].lo, runs[runs.len() - 1].hi);
                let bad: Vec<_> = runs
                    .iter()
                    .filter(|r| r.y.unsigned_abs() > SPAN as u128)
                    .take(3)
                    .collect();
                assert!(
                    bad.is_empty(),
                    "{f:?} at sf {sf}: values past 2^26 − 1 in [{lo}, {hi}]: {bad:?}"
                );
                let past = |q: i64| f.eval_raw(q, sf).unsigned_abs() > SPAN as u64;
                assert!(
                    hi == SPAN || past(hi + 1),
                    "{f:?} at sf {sf}: stops early at {hi}"
                );
                assert!(
                    lo == -SPAN || past(lo - 1),
                    "{f:?} at sf {sf}: starts late at {lo}"
                );
                if f == LookupFn::Exp {
                    assert_eq!(hi < 0, sf >= 1 << 13, "sf {sf}: last input {hi}");
                }
            }
        }
    }

    /// The two inequalities of `layers::sqrt_exact`, with `b = min(y, 1)`, admit exactly one `y` for every
    /// `N ≥ 0` (pronic `N = y² − y` included, where a weaker lower bound would admit two).
    #[test]
    fn sqrt_constraints_have_exactly_one_solution() {
        for n in 0i64..20_000 {
            let ok: Vec<i64> = (-300..300)
                .filter(|&y| {
                    let b = y.min(1);
                    y * y + y - n >= 0 && n - y * y + y - b >= 0
                })
                .collect();
            assert_eq!(ok, vec![exact(n.into())], "N = {n}");
        }
    }
}
