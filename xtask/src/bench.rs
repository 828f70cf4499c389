//! `cargo xtask bench`: proves MNIST (zkml's model) and dzk's digits model in 1, 2 and 4 chunks and writes the
//! figures, with the command that made them, to docs/benchmarks.md.

use std::process::Command;

use anyhow::{bail, Context};

/// MNIST cut plans: the whole model, then the partitioner's 2- and 4-chunk cuts (`dzk partition --chunks N`).
const MNIST_PLANS: &[&str] = &["0,16", "auto:2", "auto:4"];

fn run_bench(model: &str, input: &str, plans: &[&str]) -> anyhow::Result<String> {
    let root = crate::tidy::workspace_root()?;
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "dzk-prover",
        "--example",
        "bench_chunks",
        "--",
        model,
        input,
    ])
    .args(plans)
    .current_dir(&root);
    eprintln!("xtask: {cmd:?}");
    let out = cmd.output().context("running bench_chunks")?;
    if !out.status.success() {
        bail!(
            "bench_chunks failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn machine() -> String {
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

/// Runs the benchmarks and rewrites docs/benchmarks.md.
pub fn run() -> anyhow::Result<()> {
    let root = crate::tidy::workspace_root()?;
    let mnist = "../shared/models/zkml/mnist/model.msgpack";
    let mnist_in = "../shared/models/zkml/mnist/inp.msgpack";
    let digits = "testdata/models/digits_cnn.msgpack";
    let digits_in = "testdata/inputs/digits_0.msgpack";
    let mnist_table = run_bench(mnist, mnist_in, MNIST_PLANS)?;
    let digits_table = run_bench(digits, digits_in, &["0,5"])?;
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
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
         ## dzk's digits CNN (`testdata/`), one chunk\n\n\
         `cargo run --release -p dzk-prover --example bench_chunks -- {digits} {digits_in} 0,5`\n\n{digits_table}",
        MNIST_PLANS.join(" "),
        machine = machine(),
    );
    let path = root.join("docs/benchmarks.md");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}
