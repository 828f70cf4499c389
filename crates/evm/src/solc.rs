//! The Solidity compiler: solc-js (npm's `solc` package, the compiler built to WebAssembly), run by Node.js.
//! It needs no native binary, so any machine with npm can build the verifier.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::{from_hex, EvmError};

/// The compiler release the generated verifier asks for (`pragma solidity 0.8.19`), and the npm package version
/// `cargo xtask solc` installs.
pub const SOLC_VERSION: &str = "0.8.19";

/// The environment variable that names the `solcjs` program when `--solcjs` does not.
pub const SOLCJS_ENV: &str = "DZK_SOLCJS";

/// A contract's code as the compiler wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    /// The deployment (creation) bytecode: what a deploying transaction carries.
    pub deployment: Vec<u8>,
    /// The runtime bytecode the deployment leaves on chain (EIP-170 bounds its size).
    pub runtime: Vec<u8>,
}

/// A located solc-js compiler of the right version.
#[derive(Clone, Debug)]
pub struct Solc {
    program: PathBuf,
    version: String,
}

fn how_to_install() -> String {
    format!(
        "install it with `npm install -g solc@{SOLC_VERSION}` (or `cargo xtask solc` in a dzk checkout, which puts \
         it in target/solc), then pass --solcjs PATH or set {SOLCJS_ENV}"
    )
}

impl Solc {
    /// Finds `solcjs`: `explicit` if given, else `$DZK_SOLCJS`, else `solcjs` on the `PATH`; and checks that it
    /// runs and is release [`SOLC_VERSION`].
    pub fn locate(explicit: Option<&Path>) -> Result<Self, EvmError> {
        let program: PathBuf = match explicit {
            Some(p) => p.to_path_buf(),
            None => std::env::var_os(SOLCJS_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("solcjs")),
        };
        let out = Command::new(&program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                EvmError::Solc(format!(
                    "cannot run the Solidity compiler `{}` ({e}): {}",
                    program.display(),
                    how_to_install()
                ))
            })?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() {
            return Err(EvmError::Solc(format!(
                "`{} --version` failed ({}): {}",
                program.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        if !version.starts_with(&format!("{SOLC_VERSION}+")) {
            return Err(EvmError::Solc(format!(
                "`{}` is solc {version:?}; the verifier needs release {SOLC_VERSION}: {}",
                program.display(),
                how_to_install()
            )));
        }
        Ok(Self { program, version })
    }

    /// The compiler's full version string (`0.8.19+commit.…`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Compiles `source` (one file holding the contract `contract`) with the opcode optimizer on (1 run, the
    /// Yul optimizer off), through solc's standard JSON interface.
    pub fn compile(&self, source: &str, contract: &str) -> Result<Compiled, EvmError> {
        let input = json!({
            "language": "Solidity",
            "sources": {"Verifier.sol": {"content": source}},
            "settings": {
                // The Yul optimizer runs out of solc-js's WebAssembly memory on these contracts (std::bad_alloc);
                // the opcode optimizer alone runs in a second.
                "optimizer": {"enabled": true, "runs": 1, "details": {"yul": false}},
                "outputSelection": {"Verifier.sol": {
                    contract: ["evm.bytecode.object", "evm.deployedBytecode.object"]
                }}
            }
        });
        // The answer goes to a file, not a pipe: solc-js exits before Node has flushed a large answer to a
        // pipe, which cuts it at 64 KiB.
        let answer_file = tempfile::tempfile().map_err(|e| {
            EvmError::Solc(format!("a temporary file for the compiler's answer: {e}"))
        })?;
        let mut reader = answer_file.try_clone().map_err(|e| {
            EvmError::Solc(format!("a temporary file for the compiler's answer: {e}"))
        })?;
        // The input comes from a file too: solc-js reads its stdin with one `readFileSync`, and Node makes a
        // pipe non-blocking, so a read that comes before the writer fails with EAGAIN (seen on CI).
        let mut input_file = tempfile::tempfile().map_err(|e| {
            EvmError::Solc(format!("a temporary file for the compiler's input: {e}"))
        })?;
        input_file
            .write_all(input.to_string().as_bytes())
            .and_then(|_| input_file.seek(SeekFrom::Start(0)).map(|_| ()))
            .map_err(|e| EvmError::Solc(format!("writing the compiler's input: {e}")))?;
        let out = Command::new(&self.program)
            .arg("--standard-json")
            .stdin(Stdio::from(input_file))
            .stdout(Stdio::from(answer_file))
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| EvmError::Solc(format!("cannot run {}: {e}", self.program.display())))?;
        if !out.status.success() {
            return Err(EvmError::Compile(format!(
                "{} exited with {}: {}",
                self.program.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut bytes = Vec::new();
        reader
            .seek(SeekFrom::Start(0))
            .and_then(|_| reader.read_to_end(&mut bytes))
            .map_err(|e| EvmError::Solc(format!("reading the compiler's answer: {e}")))?;
        // solc-js may print notes (">>> Cannot retry compilation with SMT ...") before the JSON answer.
        let text = String::from_utf8_lossy(&bytes);
        let json_at = text.find('{').unwrap_or(0);
        let answer: Value = serde_json::from_str(&text[json_at..]).map_err(|e| {
            EvmError::Compile(format!(
                "the compiler's answer is not JSON ({e}): {:.300}",
                text.trim()
            ))
        })?;
        let errors: Vec<String> = answer["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["severity"] == "error")
            .map(|e| {
                e["formattedMessage"]
                    .as_str()
                    .or(e["message"].as_str())
                    .unwrap_or("(no message)")
                    .trim()
                    .to_string()
            })
            .collect();
        if !errors.is_empty() {
            return Err(EvmError::Compile(errors.join("\n")));
        }
        let evm = &answer["contracts"]["Verifier.sol"][contract]["evm"];
        let code = |field: &str| -> Result<Vec<u8>, EvmError> {
            let hex = evm[field]["object"].as_str().ok_or_else(|| {
                EvmError::Compile(format!("no {field} for contract {contract} in the answer"))
            })?;
            let bytes = from_hex(hex).map_err(|e| EvmError::Compile(format!("{field}: {e}")))?;
            if bytes.is_empty() {
                return Err(EvmError::Compile(format!("{field} of {contract} is empty")));
            }
            Ok(bytes)
        };
        Ok(Compiled {
            deployment: code("bytecode")?,
            runtime: code("deployedBytecode")?,
        })
    }
}
