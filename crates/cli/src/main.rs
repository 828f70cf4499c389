//! The `dzk` binary (CPU only; see the library's header for the GPU prover `dzk-gpu`).

fn main() -> std::process::ExitCode {
    dzk_cli::main()
}
