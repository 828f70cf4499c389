//! Prints the cost model (rows, k) of a model and of slices of it: `cargo run -p dzk-circuit --example cost -- MODEL [a..b ...]`.

use std::sync::Arc;

use dzk_circuit::ChunkCircuit;
use dzk_ir::Model;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: cost MODEL [START..END ...]");
        std::process::exit(2);
    };
    let model = match Model::load(std::path::Path::new(path)) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let n = model.layers().len();
    let mut slices: Vec<(usize, usize)> = args[1..]
        .iter()
        .filter_map(|s| {
            s.split_once("..")
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        })
        .collect();
    if slices.is_empty() {
        slices.push((0, n));
    }
    for (a, b) in slices {
        match ChunkCircuit::fit(model.clone(), a, b) {
            Ok(c) => println!(
                "layers {a}..{b}: {} rows, k = {}, {} matrix products checked by the chip ({:?}); \
                 rows by cursor [shared, long, short, hash, check]: {:?}",
                c.rows(),
                c.min_k(),
                c.matrix_checks(),
                c.layout(),
                c.row_cursors()
            ),
            Err(e) => println!("layers {a}..{b}: {e}"),
        }
    }
}
