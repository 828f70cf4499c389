//! Function-table sizes on zkml's real models: rows each lookup layer's table takes in dzk, against the `2^k`
//! rows of zkml's tables.
//!
//! `cargo run --release -p dzk-circuit --example tables -- ../shared/models/zkml/{gpt-2,clip,twitter}/config.msgpack`

use std::collections::BTreeSet;
use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, LayoutParams};
use dzk_ir::Model;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("| model | sf | zkml k | layer | dzk table rows | dzk k ≥ | build |");
    println!("|---|---|---|---|---|---|---|");
    for path in std::env::args().skip(1) {
        let model = Arc::new(Model::load(std::path::Path::new(&path))?);
        let name = std::path::Path::new(&path)
            .parent()
            .and_then(|p| p.file_name())
            .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
        let mut seen = BTreeSet::new();
        for (i, l) in model.layers().iter().enumerate() {
            if !matches!(
                l.layer_type.as_str(),
                "Softmax" | "Logistic" | "Tanh" | "Rsqrt" | "Sqrt" | "Pow" | "Sin" | "Cos"
            ) || !seen.insert(l.layer_type.clone())
            {
                continue;
            }
            let params = LayoutParams {
                fn_slots: 1,
                ..LayoutParams::default()
            };
            let t = std::time::Instant::now();
            let c = ChunkCircuit::new(model.clone(), i, i + 1, params)?;
            let rows = c.function_table_rows();
            let built = t.elapsed();
            if rows == 0 {
                println!(
                    "| {name} | {} | {} | {} | none: exact integer arithmetic | — | — |",
                    model.scale(),
                    model.k(),
                    l.layer_type
                );
                continue;
            }
            println!(
                "| {name} | {} | {} | {} | {rows} | {} | {:.2} s |",
                model.scale(),
                model.k(),
                l.layer_type,
                (rows + 7).next_power_of_two().trailing_zeros(),
                built.as_secs_f64()
            );
        }
    }
    Ok(())
}
