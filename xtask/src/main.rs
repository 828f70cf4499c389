//! dzk's developer tasks: `cargo xtask ci` (the one command CI runs), `cargo xtask slow` (the tests too slow
//! for it), `cargo xtask tidy` and `cargo xtask bench`.

mod bench;
mod bench_evm;
mod ci;
mod solc;
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <ci [--fast] | slow | solc | tidy | bench>
  ci      fmt check, clippy (warnings denied), tests, docs, tidy
          --fast skips the doc build
  slow    the tests too slow for CI (marked #[ignore]): a tree of aggregations, about an hour
  solc    install the pinned solc-js (npm) under target/solc, for the EVM tests
  tidy    crate dependency rules, //! headers, anyhow/unsafe placement
  bench   prove MNIST and the digits model in 1, 2 and 4 chunks; write docs/benchmarks.md
          evm: only the on-chain verifier's figures (digits and MNIST in 2 chunks), in their section";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("slow") => {
            ci::with_solc().and_then(|()| ci::cargo(&["test", "--workspace", "--", "--ignored"]))
        }
        Some("solc") => solc::install().map(|p| println!("{}", p.display())),
        Some("tidy") => tidy::run(),
        Some("bench") if args.get(1).map(String::as_str) == Some("evm") => {
            bench_evm::run(&bench::date(), &bench::machine())
        }
        Some("bench") => bench::run(),
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
