//! Measures real proving time of one slice under several layouts, to check the layout cost model against the
//! clock: `cargo run --release -p dzk-prover --example layouts -- MODEL INPUT START END LAYOUT...`, where a
//! layout is `fit` (the layout `ChunkCircuit::fit` picks) or `ADVICE[:RANGE_SLOTS[:CHECK_WIDTH[:SHORT_SLOTS]]]`:
//! parts left out are `fit`'s, and short slots default to the range slots when those are given.
//!
//! Prints one Markdown row per layout: rows, k, advice columns, the cost model's estimate and the prove time.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use dzk_backend::Backend;
use dzk_circuit::{ChunkCircuit, LayoutParams, Salts};
use dzk_ir::{Model, TensorFile};
use dzk_prover::{dev_setup, keygen, prove_chunk};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!(
            "usage: layouts MODEL INPUT START END (fit|ADVICE[:RANGE_SLOTS[:CHECK_WIDTH[:SHORT_SLOTS]]])..."
        );
        std::process::exit(2);
    }
    let model = Arc::new(Model::load(Path::new(&args[0]))?);
    let input = TensorFile::load(Path::new(&args[1]))?;
    let (a, b): (usize, usize) = (args[2].parse()?, args[3].parse()?);
    let fitted = ChunkCircuit::fit(model.clone(), a, b)?.layout();
    println!(
        "| advice | range slots | short slots | check width | rows | k | advice columns | cost model | prove s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for spec in &args[4..] {
        let mut parts = spec.split(':');
        let first = parts.next().unwrap_or_default();
        let advice = if first == "fit" {
            fitted.advice
        } else {
            first.parse()?
        };
        let given = parts.next();
        let slots = given.map_or(Ok(fitted.range_slots), str::parse)?;
        let check = parts.next().map_or(Ok(fitted.check_width), str::parse)?;
        let short = parts.next().map_or(
            Ok(if given.is_some() {
                slots
            } else {
                fitted.short_slots
            }),
            str::parse,
        )?;
        let p = LayoutParams {
            advice,
            range_slots: slots,
            short_slots: short,
            check_width: check,
            ..fitted
        };
        let c = ChunkCircuit::new(model.clone(), a, b, p)?.with_inputs(&input, Salts::default())?;
        let (rows, k, cost) = (c.rows(), c.min_k(), c.cost_estimate());
        let params = dev_setup(k, 1);
        let (_, pk) = keygen(&params, &c)?;
        let cs = pk.get_vk().cs();
        eprintln!(
            "advice {advice}: {} fixed columns after selector compression, {} permutation columns",
            cs.num_fixed_columns(),
            cs.permutation().get_columns().len()
        );
        let t = Instant::now();
        prove_chunk(Backend::Cpu, &params, &pk, c)?;
        println!(
            "| {advice} | {slots} | {short} | {check} | {rows} | {k} | {} | {cost} | {:.2} |",
            p.advice_columns(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
