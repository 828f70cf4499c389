//! dzk's developer tasks: `cargo xtask ci` (the one command CI runs), `cargo xtask slow` (the tests too slow
//! for it), `cargo xtask tidy` and `cargo xtask bench`.

mod bench;
mod ci;
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <ci [--fast] | slow | tidy | bench>
  ci      fmt check, clippy (warnings denied), tests, docs, tidy
          --fast skips the doc build
  slow    the tests too slow for CI (marked #[ignore]): a tree of aggregations, about an hour
  tidy    crate dependency rules, //! headers, anyhow/unsafe placement
  bench   prove MNIST and the digits model in 1, 2 and 4 chunks; write docs/benchmarks.md";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("slow") => ci::cargo(&["test", "--workspace", "--", "--ignored"]),
        Some("tidy") => tidy::run(),
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
