//! Prints the cost model of a slice under several layouts: `cargo run -p dzk-circuit --example sweep -- MODEL A B`.

use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, LayoutParams};
use dzk_ir::Model;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(a), Some(b)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: sweep MODEL START END");
        std::process::exit(2);
    };
    let model = Arc::new(Model::load(std::path::Path::new(path)).expect("model"));
    let (a, b): (usize, usize) = (a.parse().expect("start"), b.parse().expect("end"));
    println!(
        "| advice | range slots | short slots | hash lanes | rows | k | advice columns | cost |"
    );
    for advice in [12, 16, 20, 24, 32, 40, 48] {
        for range_slots in [1, 2, 3] {
            for short_slots in [1, 2] {
                for hash_lanes in [0, 1] {
                    let p = LayoutParams {
                        advice,
                        range_slots,
                        short_slots,
                        hash_lanes,
                        ..LayoutParams::default()
                    };
                    if let Ok(c) = ChunkCircuit::new(model.clone(), a, b, p) {
                        println!(
                            "| {advice} | {range_slots} | {short_slots} | {hash_lanes} | {} | {} | {} | {} |",
                            c.rows(),
                            c.min_k(),
                            p.advice_columns(),
                            c.cost_estimate()
                        );
                    }
                }
            }
        }
    }
}
