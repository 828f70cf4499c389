//! `cargo xtask bench`: proves MNIST (zkml's model) and dzk's digits model in 1, 2 and 4 chunks and writes the
//! figures, with the command that made them, to docs/benchmarks.md.

use std::process::Command;

use anyhow::{bail, Context};

/// MNIST cut plans: the whole model, then the partitioner's 2- and 4-chunk cuts (`dzk partition --chunks N`).
const MNIST_PLANS: &[&str] = &["0,16", "auto:2", "auto:4"];

/// Runs a release example of `package` with `args`; returns its stdout (its Markdown table).
fn run_example(package: &str, example: &str, args: &[&str]) -> anyhow::Result<String> {
    run_example_with(package, example, &[], args)
}

/// [`run_example`] with extra cargo flags (`--no-default-features`).
fn run_example_with(
    package: &str,
    example: &str,
    cargo_flags: &[&str],
    args: &[&str],
) -> anyhow::Result<String> {
    let root = crate::tidy::workspace_root()?;
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["run", "--quiet", "--release", "-p", package])
        .args(cargo_flags)
        .args(["--example", example, "--"])
        .args(args)
        .current_dir(&root);
    if !cargo_flags.is_empty() {
        // Another feature set gets a target directory of its own, so alternating builds do not rebuild.
        cmd.env("CARGO_TARGET_DIR", root.join("target/bench-features"));
    }
    eprintln!("xtask: {cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("running the {example} example"))?;
    if !out.status.success() {
        bail!("{example} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn run_bench(model: &str, input: &str, plans: &[&str]) -> anyhow::Result<String> {
    let args: Vec<&str> = [model, input]
        .into_iter()
        .chain(plans.iter().copied())
        .collect();
    run_example("dzk-prover", "bench_chunks", &args)
}

/// Function-table sizes on zkml's GPT-2, CLIP and Twitter configs (the `tables` example).
fn tables_table(configs: &[&str]) -> anyhow::Result<String> {
    run_example("dzk-circuit", "tables", configs)
}

pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown".into());
    format!("{cores} cores, {mem} memory")
}

/// Runs `dzk` (release build) with `args`; returns stdout.
pub fn dzk(root: &std::path::Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(root.join("target/release/dzk"))
        .args(args)
        .current_dir(root)
        .output()
        .context("running dzk")?;
    if !out.status.success() {
        bail!(
            "dzk {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The pipeline as users run it: `dzk partition --chunks N`, one dev SRS, `dzk keygen`, then one
/// `dzk prove-chunk --json` process per chunk (so each chunk's peak memory is its own). One table row per chunk.
fn pipeline_table(model: &str, input: &str, chunks: &[usize]) -> anyhow::Result<String> {
    let root = crate::tidy::workspace_root()?;
    crate::ci::cargo(&["build", "--quiet", "--release", "-p", "dzk-cli"])?;
    let tmp = std::env::temp_dir().join(format!("dzk-bench-{}", std::process::id()));
    let mut table = String::from(
        "| chunks | chunk | layers | k | prove s | vs one chunk | peak RSS MiB |\n|---|---|---|---|---|---|---|\n",
    );
    let mut one_chunk: Option<f64> = None;
    for &n in chunks {
        let dir = tmp.join(format!("n{n}"));
        let (run, params, proofs) = (dir.join("run"), dir.join("params"), dir.join("proofs"));
        let s = |p: &std::path::Path| p.display().to_string();
        let plan: serde_json::Value = serde_json::from_str(&dzk(
            &root,
            &[
                "partition",
                model,
                "--chunks",
                &n.to_string(),
                "-o",
                &s(&run),
                "--json",
            ],
        )?)?;
        let k = plan["chunks"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["k"].as_u64()).max().unwrap_or(0))
            .unwrap_or(0);
        dzk(&root, &["setup", "--k", &k.to_string(), "-o", &s(&params)])?;
        dzk(&root, &["keygen", &s(&run), "--params", &s(&params)])?;
        let mut cur = input.to_string();
        let mut slowest: f64 = 0.0;
        let mut rows = Vec::new();
        for i in 0..n {
            let emit = s(&dir.join(format!("boundary-{}", i + 1)));
            let out: serde_json::Value = serde_json::from_str(&dzk(
                &root,
                &[
                    "prove-chunk",
                    &s(&run),
                    "--chunk",
                    &i.to_string(),
                    "--input",
                    &cur,
                    "--params",
                    &s(&params),
                    "-o",
                    &s(&proofs),
                    "--emit-output",
                    &emit,
                    "--json",
                ],
            )?)?;
            let prove = out["prove_s"].as_f64().unwrap_or(f64::NAN);
            slowest = slowest.max(prove);
            rows.push((
                i,
                out["layers"].clone(),
                out["k"].clone(),
                prove,
                out["peak_rss_mib"].as_f64(),
            ));
            cur = emit;
        }
        dzk(&root, &["merkle", &s(&proofs)])?;
        dzk(
            &root,
            &[
                "verify-all",
                &s(&proofs),
                "--run",
                &s(&run),
                "--params",
                &s(&params),
            ],
        )?;
        let base = *one_chunk.get_or_insert(slowest);
        for (i, layers, k, prove, rss) in rows {
            let ratio = if prove == slowest {
                format!(
                    "**{:.2}× (slowest; goal ≤ {:.3})**",
                    prove / base,
                    1.3 / n as f64
                )
            } else {
                format!("{:.2}×", prove / base)
            };
            table.push_str(&format!(
                "| {n} | {i} | {}..{} | {k} | {prove:.2} | {ratio} | {:.0} |\n",
                layers[0],
                layers[1],
                rss.unwrap_or(f64::NAN)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(table)
}

/// MNIST as one chunk proven with and without the `asm` feature, alternating, two runs each.
fn asm_table(layout_args: &[&str]) -> anyhow::Result<String> {
    let mut table = String::from(
        "| build | advice | range slots | short slots | check width | rows | k | advice columns | cost model | prove s |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for _ in 0..2 {
        for (label, flags) in [
            ("asm (default)", &[][..]),
            ("--no-default-features", &["--no-default-features"][..]),
        ] {
            let out = run_example_with("dzk-prover", "layouts", flags, layout_args)?;
            let row = out.lines().last().unwrap_or_default();
            table.push_str(&format!("| {label} {row}\n"));
        }
    }
    Ok(table)
}

/// How many times `repeat_table` proves MNIST as one chunk.
const REPEATS: usize = 7;

/// MNIST as one chunk under `fit`'s layout, proven `REPEATS` times in one process (the `layouts` example with
/// `fit` repeated): the table of runs and a summary line with the minimum, median and maximum prove time. A
/// single proof on these shared machines can be off by a third; the median is what to compare with zkml.
fn repeat_table(args: &[&str]) -> anyhow::Result<String> {
    let out = run_example("dzk-prover", "layouts", args)?;
    let times = prove_times(&out);
    let Some(summary) = spread(&times) else {
        bail!("the layouts example printed no prove times:\n{out}");
    };
    Ok(format!(
        "{out}\nOver {} proofs: minimum {:.2} s, median {:.2} s, maximum {:.2} s.\n",
        times.len(),
        summary.0,
        summary.1,
        summary.2
    ))
}

/// The last column (prove seconds) of each data row of a Markdown table.
fn prove_times(table: &str) -> Vec<f64> {
    table
        .lines()
        .filter_map(|l| l.trim().trim_end_matches('|').rsplit('|').next())
        .filter_map(|cell| cell.trim().parse::<f64>().ok())
        .collect()
}

/// `(minimum, median, maximum)` of `xs` (the upper median for an even count); `None` when empty.
fn spread(xs: &[f64]) -> Option<(f64, f64, f64)> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    Some((*v.first()?, v[v.len() / 2], *v.last()?))
}

/// The time now, UTC, to the minute.
pub fn date() -> String {
    Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Runs the benchmarks and rewrites docs/benchmarks.md.
pub fn run() -> anyhow::Result<()> {
    let root = crate::tidy::workspace_root()?;
    crate::ci::with_solc()?;
    let mnist = "../shared/models/zkml/mnist/model.msgpack";
    let mnist_in = "../shared/models/zkml/mnist/inp.msgpack";
    let digits = "testdata/models/digits_cnn.msgpack";
    let digits_in = "testdata/inputs/digits_0.msgpack";
    let mnist_table = run_bench(mnist, mnist_in, MNIST_PLANS)?;
    let repeat_args: Vec<&str> = [mnist, mnist_in, "0", "16"]
        .into_iter()
        .chain(std::iter::repeat_n("fit", REPEATS))
        .collect();
    let repeats = repeat_table(&repeat_args)?;
    let digits_table = run_bench(digits, digits_in, &["0,5"])?;
    let pipeline = pipeline_table(mnist, mnist_in, &[1, 2, 4])?;
    let configs = [
        "../shared/models/zkml/gpt-2/config.msgpack",
        "../shared/models/zkml/clip/config.msgpack",
        "../shared/models/zkml/twitter/config.msgpack",
    ];
    let tables = tables_table(&configs)?;
    // MNIST as one chunk under the layout `fit` picks, then with 16 shared columns, with convolutions as dot
    // products (check width 0, as before the matrix check), and with other check widths and range slots.
    let layout_args = [
        mnist, mnist_in, "0", "16", "fit", "16:1:3:2", "16:2:4:2", "12:1:0:2", "16:2:0", "32:2:0",
    ];
    let layouts = run_example("dzk-prover", "layouts", &layout_args)?;
    let asm = asm_table(&layout_args[..5])?;
    // Aggregation of MNIST's 2-chunk run, one process per N so that peak memory is per N.
    let agg_args = [mnist, mnist_in, "19", "2"];
    let aggregation = run_example("dzk-aggregate", "bench_aggregate", &agg_args)?;
    let date = date();
    let evm = crate::bench_evm::section(&root, &date, &machine())?;
    let text = format!(
        "# Benchmarks\n\n\
         Written by `cargo xtask bench` ({date}, {machine}). Each chunk is proven on its own, one after another, on \
         this one machine: keygen with a deterministic dev SRS of exactly the chunk's k, then a KZG/SHPLONK proof \
         (CPU, halo2-axiom), then verification. Peak RSS is the process's high-water mark so far, so it only grows \
         down a table. Then the same slice is proven *without* commitments (boundary outputs public, inputs \
         unbound: a baseline, not a dzk statement); the overhead column is what `h_in`/`h_out` cost. Machines \
         like this are noisy: compare rows taken in the same run.\n\n\
         ## MNIST (zkml's `mnist/model.msgpack`), as one chunk and cut into 2 and 4 chunks\n\n\
         `cargo run --release -p dzk-prover --example bench_chunks -- {mnist} {mnist_in} {}`\n\n{mnist_table}\n\
         For comparison (../shared/DESIGN.md §5, same machine class): zkml proves this model in 5.7 s (k=15, \
         proof 3360 B, verify 5-7 ms); EZKL needs k=20 and 199 s.\n\n\
         ## MNIST as one chunk, proven {REPEATS} times\n\n\
         `cargo run --release -p dzk-prover --example layouts -- {repeat_cmd}`\n\n\
         One process, `fit`'s layout, a fresh keygen and proof each time. One proof on these shared machines can \
         be off by a third either way, so this is the figure to set beside zkml's 5.7 s.\n\n{repeats}\n\
         ## MNIST through the pipeline, one process per chunk\n\n\
         `dzk partition {mnist} --chunks N`, `dzk setup`, `dzk keygen`, then `dzk prove-chunk --json` per chunk \
         (each chained to the previous one's `--emit-output`), `dzk merkle`, `dzk verify-all` (VALID), for N = 1, 2, \
         4. Prove times are `prove-chunk`'s own proving phase; peak RSS is each chunk's process. The ratio is against \
         the one-chunk run of the same table; the goal is at most 1.3/N.\n\n{pipeline}\n\
         ## dzk's digits CNN (`testdata/`), one chunk\n\n\
         `cargo run --release -p dzk-prover --example bench_chunks -- {digits} {digits_in} 0,5`\n\n{digits_table}\n\
         ## Function tables on zkml's transformer configs\n\n\
         `cargo run --release -p dzk-circuit --example tables -- {configs}`\n\n\
         Rows of each lookup layer's table in dzk (runs of the function over its domain, built when the circuit is \
         built) and the smallest k that holds them; zkml's tables for the same layers have 2^k rows at its k.\n\n\
         {tables}\n\
         ## Layouts: the cost model against the clock\n\n\
         `cargo run --release -p dzk-prover --example layouts -- {layout_cmd}`\n\n\
         MNIST as one chunk proven under forced layouts (`advice:range slots:check width:short slots`, the other \
         parameters `fit`'s; the first row is the layout `fit` picks); `fit` picks by the cost model (the \
         polynomials a proof commits to: advice columns, 3 per lookup, the permutation's products and the \
         quotient's pieces, times 2^k), and the ranking should match the prove times. Check width 0 proves every convolution as dot products on the \
         shared columns, as dzk did before the matrix check; a nonzero width checks the larger ones against a \
         challenge on columns of their own (Freivalds; see docs/soundness.md).\n\n{layouts}\n\
         ## Field arithmetic in assembly (`asm`)\n\n\
         `cargo run --release -p dzk-prover [--no-default-features] --example layouts -- {asm_cmd}`, twice each, \
         alternating\n\n\
         MNIST as one chunk under `fit`'s layout, built with `halo2curves`' x86-64 assembly (the default) and \
         without it (`--no-default-features`).\n\n{asm}\n\
         ## Aggregation\n\n\
         `cargo run --release -p dzk-aggregate --example bench_aggregate -- {agg_cmd}`\n\n\
         MNIST cut by the partitioner, each chunk proven, then the aggregation circuit (snark-verifier-sdk, \
         SHPLONK) over all chunk proofs: its keygen, the aggregated proof, the verifier's rebuild of its verifying \
         key from the chunk keys (what `dzk verify-all --aggregate` does first), and the verification itself.\n\n\
         {aggregation}
{evm}",
        MNIST_PLANS.join(" "),
        agg_cmd = agg_args.join(" "),
        asm_cmd = layout_args[..5].join(" "),
        layout_cmd = layout_args.join(" "),
        repeat_cmd = repeat_args.join(" "),
        configs = configs.join(" "),
        machine = machine(),
    );
    let path = root.join("docs/benchmarks.md");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{prove_times, spread};

    #[test]
    fn prove_times_are_the_last_column_of_data_rows() {
        let table =
            "| advice | k | prove s |\n|---|---|---|\n| 12 | 14 | 5.30 |\n| 16 | 14 | 7.25 |\n";
        assert_eq!(prove_times(table), vec![5.30, 7.25]);
    }

    #[test]
    fn spread_is_min_median_max() {
        assert_eq!(spread(&[6.0, 5.0, 9.0]), Some((5.0, 6.0, 9.0)));
        assert_eq!(spread(&[4.0, 1.0, 3.0, 2.0]), Some((1.0, 3.0, 4.0)));
        assert_eq!(spread(&[]), None);
    }
}
