//! `cargo xtask ci`: every check a change must pass, in the order that fails fastest.

use std::process::Command;

use anyhow::{bail, Context};

/// Runs `cargo` with `args` in the workspace root, failing if it fails.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(crate::tidy::workspace_root()?)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The CI sequence.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let fast = args.iter().any(|a| a == "--fast");
    if let Some(other) = args.iter().find(|a| *a != "--fast") {
        bail!("unknown ci flag {other}");
    }
    cargo(&["fmt", "--all", "--check"])?;
    crate::tidy::run()?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace"])?;
    if !fast {
        std::env::set_var(
            "RUSTDOCFLAGS",
            "-D rustdoc::broken_intra_doc_links -D warnings",
        );
        cargo(&["doc", "--workspace", "--no-deps"])?;
    }
    eprintln!("xtask: ci passed");
    Ok(())
}
