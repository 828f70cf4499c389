//! Estimates of a chunk's keygen and proving resources from its layout and `k`, and the bound a chunk must fit
//! ([`Limit`]: its rows, and where given its memory by that estimate).

use crate::chunk::LayoutParams;
use crate::fit::{layout_cost, layout_shape};

/// Estimates of one chunk's keygen and proving resources, from its layout's constraint system and `k`.
///
/// Memory is bytes per row (`2^k` rows), fitted (least squares of the relative error) to the peak RSS of eight
/// chunks measured on a 2-core machine like CI's, from MNIST at k = 14 and the 2^17 softmax head (145 fixed
/// columns) to GPT-2's chunks at k = 19 and 20, wide and narrow (docs/benchmarks.md, "Resource estimates"):
/// keygen about 1,060 B a row, 229 B per fixed cell, 62 B per selector cell (halo2 combines selectors into
/// fewer fixed columns) and 279 B per permutation cell; proving about 1,750 B a row, 97 B per fixed, selector
/// or permutation cell (the proving key) and 88 B per advice column or per lookup's three committed
/// polynomials. Every one of the eight is within 5% of its measurement. Time is per unit of
/// [`crate::ChunkCircuit::cost_estimate`] (the polynomials a proof commits to times `2^k`) for proving and per
/// fixed, selector or permutation cell for keygen, fitted to MNIST and the softmax head; time is for 2 cores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Peak memory of `dzk keygen` for the chunk, bytes.
    pub keygen_bytes: u64,
    /// Peak memory of `dzk prove-chunk`, bytes.
    pub prove_bytes: u64,
    /// `dzk keygen` seconds on 2 cores.
    pub keygen_s: f64,
    /// `dzk prove-chunk`'s proving seconds on 2 cores.
    pub prove_s: f64,
}

impl Estimate {
    /// The larger of the keygen and proving peaks: what a machine that keys and proves the chunk needs.
    pub fn peak_bytes(&self) -> u64 {
        self.keygen_bytes.max(self.prove_bytes)
    }
}

/// Bytes a process holds before any chunk (binary, SRS reading, tables).
const BASE_BYTES: u64 = 20 << 20;

/// The estimate of a chunk laid out as `p` at `k`. See [`Estimate`].
pub fn estimate(p: LayoutParams, k: u32) -> Estimate {
    let s = layout_shape(p);
    let n = 1u64 << k;
    let fixed = (s.fixed + s.selectors) as u64;
    let perm = s.permutation as u64;
    let committed = (s.advice + 3 * s.lookups) as u64;
    let area = layout_cost(p, k) as f64;
    Estimate {
        keygen_bytes: BASE_BYTES
            + n * (1060 + 229 * s.fixed as u64 + 62 * s.selectors as u64 + 279 * perm),
        prove_bytes: BASE_BYTES + n * (1750 + 97 * (fixed + perm) + 88 * committed),
        keygen_s: (n * (fixed + perm)) as f64 * 2.6e-6,
        prove_s: area * 5.3e-6,
    }
}

/// What every chunk of a plan must fit: at most `2^max_k` rows (tables and halo2's reserved rows included) and,
/// when `max_bytes` is given, at most that much memory to key or to prove by [`estimate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The largest `k`.
    pub max_k: u32,
    /// The most memory, bytes, by [`Estimate::peak_bytes`].
    pub max_bytes: Option<u64>,
}

impl Limit {
    /// Rows alone: at most `2^max_k`.
    pub fn k(max_k: u32) -> Self {
        Self {
            max_k,
            max_bytes: None,
        }
    }

    /// Whether a chunk laid out as `p` at `k` fits.
    pub fn allows(&self, p: LayoutParams, k: u32) -> bool {
        k <= self.max_k
            && self
                .max_bytes
                .is_none_or(|m| estimate(p, k).peak_bytes() <= m)
    }

    /// The largest `k` at which a chunk laid out as `p` fits (its memory grows with `k`), if any.
    pub fn largest_k(&self, p: LayoutParams) -> Option<u32> {
        (4..=self.max_k).rev().find(|&k| self.allows(p, k))
    }
}

/// Bytes for people: GiB with one decimal from 1 GiB up, whole MiB below.
pub fn bytes_text(bytes: u64) -> String {
    let g = bytes as f64 / f64::from(1u32 << 30);
    if g >= 1.0 {
        format!("{g:.1} GiB")
    } else {
        format!("{:.0} MiB", bytes as f64 / f64::from(1u32 << 20))
    }
}
