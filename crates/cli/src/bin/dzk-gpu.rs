//! The `dzk-gpu` binary: dzk with the CUDA prover (feature `gpu`, built by `cargo xtask gpu`). It aborts before
//! `main` on a machine without a usable NVIDIA GPU (the CUDA crates initialise the device when the program
//! loads), so users run `dzk`, which starts this binary only after asking the driver for a device.

fn main() -> std::process::ExitCode {
    dzk_cli::main()
}
