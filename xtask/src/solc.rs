//! `cargo xtask solc`: the Solidity compiler the EVM tests and `dzk export-solidity` use, solc-js from npm's
//! registry (WebAssembly run by Node.js: no native binary), pinned to the release `dzk_evm::SOLC_VERSION`
//! names and installed under `target/solc`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};

/// The release pinned in `crates/evm/src/solc.rs` (read from there: one place says it).
fn pinned_version() -> anyhow::Result<String> {
    let root = crate::tidy::workspace_root()?;
    let path = root.join("crates/evm/src/solc.rs");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let line = text
        .lines()
        .find(|l| l.starts_with("pub const SOLC_VERSION: &str = \""))
        .with_context(|| format!("{} has no SOLC_VERSION", path.display()))?;
    Ok(line
        .trim_start_matches("pub const SOLC_VERSION: &str = \"")
        .trim_end_matches("\";")
        .to_string())
}

/// Installs solc-js (if this version is not there yet) and returns the path of its `solcjs` program.
pub fn install() -> anyhow::Result<PathBuf> {
    let version = pinned_version()?;
    let dir = crate::tidy::workspace_root()?.join("target").join("solc");
    let program = dir.join("node_modules").join(".bin").join("solcjs");
    let have = Command::new(&program).arg("--version").output();
    if let Ok(out) = have {
        if out.status.success()
            && String::from_utf8_lossy(&out.stdout).starts_with(&format!("{version}+"))
        {
            return Ok(program);
        }
    }
    for tool in ["node", "npm"] {
        if Command::new(tool).arg("--version").output().is_err() {
            bail!(
                "`{tool}` is not installed: the EVM verifier is compiled with solc-js, which needs Node.js and npm \
                 (Debian: `apt-get install nodejs npm`)"
            );
        }
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!("xtask: npm install solc@{version} into {}", dir.display());
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&dir)
        .arg(format!("solc@{version}"))
        .status()
        .context("running npm")?;
    if !status.success() {
        bail!("npm install solc@{version} failed ({status})");
    }
    let out = Command::new(&program)
        .arg("--version")
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    if !String::from_utf8_lossy(&out.stdout).starts_with(&format!("{version}+")) {
        bail!(
            "{} is not solc {version}: {}",
            program.display(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(program)
}
