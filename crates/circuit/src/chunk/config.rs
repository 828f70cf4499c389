//! A chunk circuit's geometry (`LayoutParams`) and the chips configured on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use dzk_gadgets::affine::AffineChip;
use dzk_gadgets::clamp::ClampChip;
use dzk_gadgets::cmp::CmpChip;
use dzk_gadgets::dot::DotChip;
use dzk_gadgets::hash::{PackChip, PoseidonChip};
use dzk_gadgets::lookup::FnChip;
use dzk_gadgets::matcheck::MatCheckChip;
use dzk_gadgets::range::RangeChip;
use dzk_gadgets::rescale::RescaleChip;
use dzk_gadgets::Fr;
use halo2_proofs::plonk::{Column, ConstraintSystem, Instance};

use crate::ops::Chips;

/// Column and table geometry of a chunk circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LayoutParams {
    /// Advice columns, shared by every chip.
    pub advice: usize,
    /// Bits per range-table limb: the table has `2^range_bits` rows, so `k > range_bits`.
    pub range_bits: usize,
    /// Limbs per range check: values are checked in `[0, 2^(range_bits·range_limbs))`.
    pub range_limbs: usize,
    /// Long range checks per row (each takes `range_limbs + 1` advice columns of its own).
    pub range_slots: usize,
    /// Short range checks per row (one advice column each).
    pub short_slots: usize,
    /// Lanes of the Poseidon chip on advice columns of its own (6 each), running beside the other chips;
    /// 0 puts two lanes on the shared columns instead (no extra columns, but the hashes add rows).
    pub hash_lanes: usize,
    /// Function lookups per row (6 shared advice columns and one lookup each); 0 when the slice looks no
    /// function up (no chip, no table).
    pub fn_slots: usize,
    /// Groups the function tables are spread over (1: one table; `G ≥ 2`: `G` lookups per slot and `G` more
    /// shared columns per slot, for tables longer than `2^k`; see `dzk_gadgets::lookup`).
    pub fn_groups: usize,
    /// Slots per row of the matrix-check chip, on columns of its own (`2w + 1` advice): convolutions and fully
    /// connected layers are then checked against a challenge instead of as dot products. 0: no chip.
    pub check_width: usize,
}

impl Default for LayoutParams {
    fn default() -> Self {
        Self {
            advice: 16,
            range_bits: 13,
            range_limbs: 2,
            range_slots: 2,
            short_slots: 2,
            hash_lanes: 0,
            fn_slots: 0,
            fn_groups: 1,
            check_width: 0,
        }
    }
}

impl LayoutParams {
    /// Advice columns in all: shared, range (long and short), the hash chip's own and the matrix check's own.
    pub fn advice_columns(&self) -> usize {
        self.advice
            + self.range_slots * (self.range_limbs + 1)
            + self.short_slots
            + 6 * self.hash_lanes
            + FnChip::bit_columns(self.fn_slots, self.fn_groups)
            + if self.check_width > 0 {
                MatCheckChip::advice_columns(self.check_width)
            } else {
                0
            }
    }
}

impl From<&dzk_format::run::LayoutSpec> for LayoutParams {
    fn from(s: &dzk_format::run::LayoutSpec) -> Self {
        Self {
            advice: s.advice,
            range_bits: s.range_bits,
            range_limbs: s.range_limbs,
            range_slots: s.range_slots,
            short_slots: s.short_slots,
            hash_lanes: s.hash_lanes,
            fn_slots: s.fn_slots,
            fn_groups: s.fn_groups.max(1),
            check_width: s.check_width,
        }
    }
}

/// The configured chips and the instance column of a chunk circuit.
#[derive(Clone, Debug)]
pub struct ChunkConfig {
    pub(crate) chips: Chips,
    pub(crate) instance: Column<Instance>,
}

/// Layout `p`'s chips and the rows halo2 reserves at the end of its circuit (blinding factors and one more), once
/// per layout per process: counting rows needs the chips' geometry alone, and the layout search counts a chunk under
/// dozens of layouts, each of which would otherwise configure a whole constraint system (the wide layouts' take
/// milliseconds).
pub(crate) fn counting_config(p: LayoutParams) -> Arc<(ChunkConfig, usize)> {
    type Configs = HashMap<LayoutParams, Arc<(ChunkConfig, usize)>>;
    static CACHE: OnceLock<Mutex<Configs>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(c) = cache.lock().ok().and_then(|m| m.get(&p).cloned()) {
        return c;
    }
    let mut meta = ConstraintSystem::<Fr>::default();
    let config = configure_chips(&mut meta, p);
    let c = Arc::new((config, meta.blinding_factors() + 1));
    if let Ok(mut m) = cache.lock() {
        m.insert(p, c.clone());
    }
    c
}

pub(crate) fn configure_chips(meta: &mut ConstraintSystem<Fr>, p: LayoutParams) -> ChunkConfig {
    assert!(
        p.advice >= 12,
        "a chunk circuit needs at least 12 advice columns"
    );
    let adv: Vec<_> = (0..p.advice).map(|_| meta.advice_column()).collect();
    for c in &adv {
        meta.enable_equality(*c);
    }
    // The range chip's columns are its own: its checks advance separate row cursors beside the other chips.
    let long: Vec<_> = (0..p.range_slots * (p.range_limbs + 1))
        .map(|_| meta.advice_column())
        .collect();
    let short: Vec<_> = (0..p.short_slots).map(|_| meta.advice_column()).collect();
    let range = RangeChip::construct(RangeChip::configure(
        meta,
        &long,
        &short,
        p.range_bits,
        p.range_limbs,
    ));
    // Every chip on the shared columns takes whole rows of its own, so on any row at most one of their
    // selectors is on: they can keep their constants in one pool of fixed columns (each gate and lookup is
    // multiplied by its chip's selector, so a row's constants only ever meet that row's chip). The pool is as
    // wide as the widest chip needs, not the sum of all of them.
    let pool_len = [
        DotChip::fixed_columns(p.advice - 1),
        RescaleChip::fixed_columns(p.advice),
        CmpChip::fixed_columns(p.advice),
        ClampChip::fixed_columns(p.advice),
        AffineChip::fixed_columns(p.advice),
        if p.hash_lanes == 0 {
            PoseidonChip::fixed_columns(p.advice)
        } else {
            0
        },
        1,
    ]
    .into_iter()
    .max()
    .unwrap_or(1);
    let pool: Vec<_> = (0..pool_len).map(|_| meta.fixed_column()).collect();
    let dot = DotChip::construct(DotChip::configure(
        meta,
        &adv[..p.advice - 1],
        adv[p.advice - 1],
        &pool,
    ));
    let rescale = RescaleChip::construct(RescaleChip::configure(
        meta,
        &adv,
        &pool,
        p.range_bits * p.range_limbs,
    ));
    let cmp = CmpChip::construct(CmpChip::configure(meta, &adv, &pool));
    let clamp = ClampChip::construct(ClampChip::configure(meta, &adv, &pool));
    let affine = AffineChip::construct(AffineChip::configure(meta, &adv, &pool));
    let pack = PackChip::construct(PackChip::configure(meta, &adv));
    let poseidon = if p.hash_lanes == 0 {
        PoseidonChip::construct(PoseidonChip::configure(meta, &adv, &pool, false))
    } else {
        // Lanes on columns of their own run beside the other chips, so their constants get columns of their own.
        let own: Vec<_> = (0..6 * p.hash_lanes)
            .map(|_| meta.advice_column())
            .collect();
        let fixed: Vec<_> = (0..PoseidonChip::fixed_columns(own.len()))
            .map(|_| meta.fixed_column())
            .collect();
        PoseidonChip::construct(PoseidonChip::configure(meta, &own, &fixed, true))
    };
    let func = (p.fn_slots > 0).then(|| {
        let groups = p.fn_groups.max(1);
        let bits: Vec<_> = (0..FnChip::bit_columns(p.fn_slots, groups))
            .map(|_| meta.advice_column())
            .collect();
        FnChip::construct(FnChip::configure(
            meta, &adv, &bits, pool[0], p.fn_slots, groups,
        ))
    });
    let matcheck = (p.check_width > 0)
        .then(|| MatCheckChip::construct(MatCheckChip::configure(meta, p.check_width)));
    let instance = meta.instance_column();
    meta.enable_equality(instance);
    ChunkConfig {
        chips: Chips {
            range,
            dot,
            rescale,
            cmp,
            clamp,
            affine,
            pack,
            poseidon,
            func,
            matcheck,
            io: adv,
        },
        instance,
    }
}
