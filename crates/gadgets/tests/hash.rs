//! MockProver tests for the Poseidon and packing chips: the in-circuit commitment equals
//! `dzk_merkle::commit` on random inputs, and each named attack is rejected while its honest twin passes.

use dzk_gadgets::affine::{Affine, AffineChip, AffineConfig};
use dzk_gadgets::hash::{Fault, PackChip, PackConfig, PoseidonChip, PoseidonConfig};
use dzk_gadgets::range::{RangeChip, RangeConfig};
use dzk_gadgets::{assign_int, fe, AssignedInt, Fr, Rows};
use dzk_merkle::{commit, PACK_OFFSET, TAG_ACT};
use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error, Instance};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const K: u32 = 15;
const BITS: usize = 14;
const LIMBS: usize = 2; // [0, 2^28): exactly the packing range after the shift

#[derive(Clone, Debug)]
struct Cfg {
    cols: Vec<Column<Advice>>,
    range: RangeConfig,
    affine: AffineConfig,
    pack: PackConfig,
    poseidon: PoseidonConfig,
    instance: Column<Instance>,
}

/// The attacks; each is laid out with and without its fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attack {
    /// No fault at all.
    None,
    /// The copy of activation 3 in the packing row differs from the activation's own cell.
    PackCopy,
    /// The same for activation 12, in the second element (the second slot of a row when the chip has two).
    PackCopySecond,
    /// The packed element is not the weighted sum of its values.
    PackOutput,
    /// A state cell in the middle of a full round.
    FullRoundState,
    /// The helper (square) of a full round's S-box.
    FullRoundHelper,
    /// The helper of a partial round's S-box (the one partial round alone in its slot).
    PartialRoundHelper,
    /// The first round's S-box helper in a slot of two partial rounds.
    DoublePartialFirstHelper,
    /// The second round's S-box input (the state between the two rounds) in a slot of two partial rounds.
    DoublePartialMiddle,
    /// The second round's S-box helper in a slot of two partial rounds.
    DoublePartialSecondHelper,
    /// A state cell of a slot of two partial rounds.
    DoublePartialState,
    /// An absorbed cell that is not the packed element it should copy.
    AbsorbedCell,
    /// The salt cell of the init slot changed after the state was computed from the honest salt.
    InitSalt,
    /// An activation of 2²⁷ (just outside the packing range): [2²⁷, x] packs like [−2²⁷, x+1].
    PackingBound,
}

#[derive(Clone, Debug)]
struct HashCircuit {
    values: Vec<i64>,
    salt: Fr,
    attack: Attack,
    tamper: bool,
    /// The Poseidon chip on columns of its own (its own row cursor) rather than the shared ones.
    own_columns: bool,
    /// 20 shared columns instead of 12: two packing slots per row.
    wide: bool,
}

impl Circuit<Fr> for HashCircuit {
    type Config = Cfg;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = (bool, bool);

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn params(&self) -> (bool, bool) {
        (self.own_columns, self.wide)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> Cfg {
        Self::configure_with_params(meta, (false, false))
    }

    fn configure_with_params(
        meta: &mut ConstraintSystem<Fr>,
        (own_columns, wide): (bool, bool),
    ) -> Cfg {
        let shared = if wide { 20 } else { 12 };
        let cols: Vec<_> = (0..shared).map(|_| meta.advice_column()).collect();
        let long: Vec<_> = (0..LIMBS + 1).map(|_| meta.advice_column()).collect();
        let short = vec![meta.advice_column()];
        let range = RangeChip::configure(meta, &long, &short, BITS, LIMBS);
        let pool: Vec<_> = (0..AffineChip::fixed_columns(9))
            .map(|_| meta.fixed_column())
            .collect();
        let affine = AffineChip::configure(meta, &cols[..9], &pool);
        let pack = PackChip::configure(meta, &cols);
        let poseidon = if own_columns {
            let own: Vec<_> = (0..6).map(|_| meta.advice_column()).collect();
            let fixed: Vec<_> = (0..PoseidonChip::fixed_columns(own.len()))
                .map(|_| meta.fixed_column())
                .collect();
            PoseidonChip::configure(meta, &own, &fixed, true)
        } else {
            PoseidonChip::configure(meta, &cols, &pool, false)
        };
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        Cfg {
            cols,
            range,
            affine,
            pack,
            poseidon,
            instance,
        }
    }

    fn synthesize(&self, cfg: Cfg, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let range = RangeChip::construct(cfg.range);
        let affine = AffineChip::construct(cfg.affine);
        let pack = PackChip::construct(cfg.pack);
        let poseidon = PoseidonChip::construct(cfg.poseidon);
        range.load(&mut layouter)?;
        let mut rows = Rows::new();
        let f = |a: Attack| self.tamper && self.attack == a;
        let mut values = self.values.clone();
        if f(Attack::PackingBound) {
            values[0] = PACK_OFFSET;
        }
        // The activations, then u = v + 2^27 range-checked into [0, 2^28), as the chunk circuit does.
        let base = rows.take(values.len());
        let xs: Vec<AssignedInt> = layouter.assign_region(
            || "activations",
            |mut r| {
                Ok(values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        assign_int(&mut r, cfg.cols[0], base + i, Value::known((*v).into()))
                    })
                    .collect())
            },
        )?;
        let shifts: Vec<_> = xs
            .iter()
            .map(|x| Affine {
                x,
                m1: 1,
                y: None,
                xy: 0,
                c: PACK_OFFSET,
            })
            .collect();
        let us = affine.apply_many(&mut layouter, &mut rows, &shifts)?;
        // Raw layout, so that the lookup (not the witness generator's own check) rejects an out-of-range value.
        let at = rows.take_long(range.rows_for(us.len()));
        layouter.assign_region(
            || "range",
            |mut r| {
                for (i, u) in us.iter().enumerate() {
                    range.assign_slot(
                        &mut r,
                        at + i / range.slots(),
                        i % range.slots(),
                        Some(u),
                        u.value,
                        &range.limbs_of(u.value),
                    )?;
                }
                for i in us.len()..range.rows_for(us.len()) * range.slots() {
                    let zeros = vec![Value::known(0); LIMBS];
                    range.assign_slot(
                        &mut r,
                        at + i / range.slots(),
                        i % range.slots(),
                        None,
                        Value::known(0),
                        &zeros,
                    )?;
                }
                Ok(())
            },
        )?;
        let pack_fault = if f(Attack::PackCopy) {
            Some((3, 1))
        } else if f(Attack::PackCopySecond) {
            Some((12, 1))
        } else if f(Attack::PackOutput) {
            Some((usize::MAX, 1))
        } else {
            None
        };
        let packed = pack.pack_with_fault(&mut layouter, &mut rows, &xs, pack_fault)?;
        let fault = |slot, cell| {
            Some(Fault {
                slot,
                cell,
                delta: Fr::ONE,
            })
        };
        let fault = match self.attack {
            _ if !self.tamper => None,
            Attack::FullRoundState => fault(3, 1),
            Attack::FullRoundHelper => fault(2, 4),
            // Slots: 0 init; 1–4 full rounds; 5–32 two partial rounds each; 33 the last partial round; 34–37
            // full rounds; 38 the first absorption.
            Attack::PartialRoundHelper => fault(33, 3),
            Attack::DoublePartialFirstHelper => fault(30, 3),
            Attack::DoublePartialMiddle => fault(17, 4),
            Attack::DoublePartialSecondHelper => fault(5, 5),
            Attack::DoublePartialState => fault(32, 2),
            Attack::AbsorbedCell => fault(38, 4),
            Attack::InitSalt => fault(0, 5),
            _ => None,
        };
        let digest = poseidon.hash_with_fault(
            &mut layouter,
            &mut rows,
            Fr::from_u128(TAG_ACT),
            Value::known(self.salt),
            &packed,
            fault,
        )?;
        layouter.constrain_instance(digest.cell, cfg.instance, 0);
        Ok(())
    }
}

fn random_case(n: usize, seed: u64) -> (Vec<i64>, Fr) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let vals = (0..n)
        .map(|_| rng.gen_range(-PACK_OFFSET..PACK_OFFSET))
        .collect();
    (vals, Fr::random(&mut rng))
}

fn verify(c: &HashCircuit, digest: Fr) -> Result<(), String> {
    MockProver::run(K, c, vec![vec![digest]])
        .expect("synthesis")
        .verify()
        .map_err(|e| format!("{e:?}").chars().take(300).collect())
}

#[test]
fn chip_equals_native_commitment_on_random_inputs() {
    // Lengths that exercise both paddings (odd and even element counts) and a partial last group.
    for (n, seed) in [(1, 1), (9, 2), (10, 3), (18, 4), (40, 5), (77, 6)] {
        let (values, salt) = random_case(n, seed);
        let c = HashCircuit {
            values: values.clone(),
            salt,
            attack: Attack::None,
            tamper: false,
            own_columns: false,
            wide: false,
        };
        let want = commit(salt, &values).expect("in range");
        assert_eq!(verify(&c, want), Ok(()), "n={n}");
        assert!(verify(&c, want + Fr::ONE).is_err(), "n={n}: another digest");
        // The same with the chip on one lane of its own columns, beside the other chips, and with two
        // packing slots per row.
        let own = HashCircuit {
            own_columns: true,
            ..c.clone()
        };
        assert_eq!(verify(&own, want), Ok(()), "n={n}, own columns");
        assert!(verify(&own, want + Fr::ONE).is_err(), "n={n}, own columns");
        let wide = HashCircuit { wide: true, ..c };
        assert_eq!(verify(&wide, want), Ok(()), "n={n}, two packing slots");
        assert!(
            verify(&wide, want + Fr::ONE).is_err(),
            "n={n}, two packing slots"
        );
    }
}

#[test]
fn tampering_with_an_activation_or_the_salt_changes_the_digest() {
    let (values, salt) = random_case(20, 9);
    let c = HashCircuit {
        values: values.clone(),
        salt,
        attack: Attack::None,
        tamper: false,
        own_columns: false,
        wide: false,
    };
    let mut other = values.clone();
    other[7] += 1;
    assert!(
        verify(&c, commit(salt, &other).expect("in range")).is_err(),
        "activation"
    );
    assert!(
        verify(&c, commit(salt + Fr::ONE, &values).expect("in range")).is_err(),
        "salt"
    );
}

#[test]
fn witness_attacks_are_rejected() {
    let (values, salt) = random_case(20, 11);
    let want = commit(salt, &values).expect("in range");
    for attack in [
        Attack::PackCopy,
        Attack::PackCopySecond,
        Attack::PackOutput,
        Attack::FullRoundState,
        Attack::FullRoundHelper,
        Attack::PartialRoundHelper,
        Attack::DoublePartialFirstHelper,
        Attack::DoublePartialMiddle,
        Attack::DoublePartialSecondHelper,
        Attack::DoublePartialState,
        Attack::AbsorbedCell,
        Attack::InitSalt,
    ] {
        let mut c = HashCircuit {
            values: values.clone(),
            salt,
            attack,
            tamper: false,
            own_columns: false,
            wide: false,
        };
        for (own_columns, wide) in [(false, false), (true, false), (false, true)] {
            c.own_columns = own_columns;
            c.wide = wide;
            c.tamper = false;
            assert_eq!(
                verify(&c, want),
                Ok(()),
                "honest twin of {attack:?}, wide {wide}"
            );
            c.tamper = true;
            assert!(
                verify(&c, want).is_err(),
                "attack {attack:?} accepted, wide {wide}"
            );
        }
    }
}

#[test]
fn a_value_outside_the_packing_range_is_rejected() {
    let salt = Fr::from(77);
    // Without the range check, [2^27, 5, -3] would pack exactly like [-2^27, 6, -3]: the carry moves into
    // the next 28-bit slot.
    let alias = [-PACK_OFFSET, 6, -3];
    let off = i128::from(PACK_OFFSET);
    let raw = fe::<Fr>(2 * off)
        + fe::<Fr>(5 + off) * Fr::from(1u64 << 28)
        + fe::<Fr>(-3 + off) * Fr::from(2).pow_vartime([56]);
    assert_eq!(dzk_merkle::pack(&alias).expect("in range"), vec![raw]);
    let target = commit(salt, &alias).expect("in range");
    // Honest twin: the circuit holds the alias itself and proves its commitment.
    let mut c = HashCircuit {
        values: alias.to_vec(),
        salt,
        attack: Attack::PackingBound,
        tamper: false,
        own_columns: false,
        wide: false,
    };
    assert_eq!(verify(&c, target), Ok(()));
    // Attack: the circuit holds [2^27, 5, -3] (the fault sets the first value) and claims the same digest.
    c.values = vec![0, 5, -3];
    c.tamper = true;
    assert!(verify(&c, target).is_err());
}

#[test]
fn rows_are_pinned() {
    let mut meta = ConstraintSystem::<Fr>::default();
    let cfg = HashCircuit::configure(&mut meta);
    let p = PoseidonChip::construct(cfg.poseidon);
    assert_eq!(p.lanes(), 2);
    // init + 37 slots of rounds + (absorb + 37) + final state = 77 slots; one more absorption 38 more.
    assert_eq!(p.rows_for(0), 39);
    assert_eq!(p.rows_for(1), 39);
    assert_eq!(p.rows_for(2), 58);
    let pack = PackChip::construct(cfg.pack);
    assert_eq!((pack.slots(), pack.rows_for(19)), (1, 3));
    let mut meta = ConstraintSystem::<Fr>::default();
    let wide =
        PackChip::construct(HashCircuit::configure_with_params(&mut meta, (false, true)).pack);
    assert_eq!(
        (wide.slots(), wide.rows_for(19), wide.rows_for(45)),
        (2, 2, 3)
    );
}
