//! dzk's developer tasks: `cargo xtask ci` (the one command CI runs), `cargo xtask slow` (the tests too slow
//! for it), `cargo xtask tidy` and `cargo xtask bench`.

mod bench;
mod bench_evm;
mod ci;
mod gpu;
mod solc;
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <ci [--fast] | cluster | slow | gpu [--release] [--clippy] | solc | tidy | bench | fuzz [--secs N] [--seed S]>
  ci      fmt check, clippy (warnings denied), the GPU prover's build (`gpu`), tests, docs, tidy
          --fast skips the doc build
  cluster CI's cluster tests alone (pytest on a real local Ray cluster and a one-node Slurm cluster), driving
          target/debug/dzk (build it first: `cargo build -p dzk-cli`)
  slow    the tests too slow for CI (#[ignore] and pytest's `slow`): trees of aggregations (in one process,
          node by node, on Ray and on Slurm) and the EVM verifier at k = 22, about two hours
  gpu     build target/debug/dzk-gpu (--release: target/release), the GPU prover `dzk` starts when a GPU is
          there: installs CUDA 13's compiler from PyPI under target/cuda-pypi (docs/gpu.md);
          --clippy lints the `gpu` code first (run it when you change that code)
  solc    install the pinned solc-js (npm) under target/solc, for the EVM tests
  tidy    crate dependency rules, //! headers, anyhow/unsafe placement
  bench   prove MNIST and the digits model in 1, 2 and 4 chunks; write docs/benchmarks.md
          evm: only the on-chain verifier's figures (digits and MNIST in 2 chunks), in their section
  fuzz    every parser of untrusted bytes on mutated real files for N seconds (default 300; CI runs 20),
          in release mode, from seed S (default: drawn from the clock and printed)";

/// `cargo xtask fuzz [--secs N] [--seed S]`: the fuzz test (crates/cli/tests/fuzz.rs), longer and in release.
fn fuzz(args: &[String]) -> anyhow::Result<()> {
    let mut secs = 300u64;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?;
        let n: u64 = value
            .parse()
            .map_err(|_| anyhow::anyhow!("{a} {value}: not a number"))?;
        match a.as_str() {
            "--secs" => secs = n,
            "--seed" => seed = n,
            _ => anyhow::bail!("unknown fuzz flag {a}"),
        }
    }
    eprintln!("xtask: fuzzing for {secs} s from seed {seed} (rerun with --seed {seed})");
    std::env::set_var("DZK_FUZZ_SECS", secs.to_string());
    std::env::set_var("DZK_FUZZ_SEED", seed.to_string());
    ci::cargo(&[
        "test",
        "--release",
        "-p",
        "dzk-cli",
        "--test",
        "fuzz",
        "--",
        "--nocapture",
    ])
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("cluster") => ci::python_tests("not slow", ci::Dzk::Debug),
        Some("slow") => ci::with_solc()
            .and_then(|()| ci::cargo(&["test", "--workspace", "--", "--ignored"]))
            .and_then(|()| ci::python_tests("slow", ci::Dzk::Release)),
        Some("gpu") => gpu::run_build(&args[1..]),
        Some("solc") => solc::install().map(|p| println!("{}", p.display())),
        Some("tidy") => tidy::run(),
        Some("bench") if args.get(1).map(String::as_str) == Some("evm") => {
            bench_evm::run(&bench::date(), &bench::machine())
        }
        Some("bench") => bench::run(),
        Some("fuzz") => fuzz(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
