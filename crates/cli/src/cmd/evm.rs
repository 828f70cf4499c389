//! `dzk export-solidity`: the Solidity verifier contract of a run's aggregated proof, compiled and tried in a
//! local EVM; `dzk verify-evm`: a contract's verdict on calldata, in a local EVM.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use dzk_aggregate::Transcript;
use dzk_evm::{LocalEvm, Solc, CONTRACT_SIZE_LIMIT};
use serde_json::json;

use crate::io::write_atomic;
use crate::run::{spinner, Rejected};

/// The contract name snark-verifier's generator gives the verifier.
const CONTRACT: &str = "Halo2Verifier";

/// Arguments of `dzk export-solidity`.
#[derive(Debug, Args)]
pub struct ExportSolidityCmd {
    /// The aggregated proof (`dzk aggregate --evm`); it is verified first, and its configuration gives the
    /// aggregation circuit the contract checks.
    pub aggregate: PathBuf,
    /// The run directory (plan and verifying keys).
    #[arg(long, value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// The SRS directory the run was aggregated with.
    #[arg(long, value_name = "PARAMS_DIR")]
    pub params: PathBuf,
    /// Where to write the contract's Solidity source.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub out: PathBuf,
    /// Where to write the deployment bytecode, as 0x-hex [default: the output with extension .bin].
    #[arg(long, value_name = "FILE")]
    pub bytecode: Option<PathBuf>,
    /// Write the Solidity source only; do not compile it.
    #[arg(long, conflicts_with = "bytecode")]
    pub source_only: bool,
    /// The solc-js compiler (`solcjs` of npm's `solc@0.8.19`) [default: $DZK_SOLCJS, else `solcjs` on the PATH].
    #[arg(long, value_name = "PATH")]
    pub solcjs: Option<PathBuf>,
    /// Keep or reuse the aggregation verifying key in DIR (as `verify-all --aggregate --vk-cache`).
    #[arg(long, value_name = "DIR")]
    pub vk_cache: Option<PathBuf>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl ExportSolidityCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        // The compiler is looked for first, so a missing one is said before minutes of work.
        let solc = if self.source_only {
            None
        } else {
            Some(Solc::locate(self.solcjs.as_deref())?)
        };
        let cache = self
            .vk_cache
            .clone()
            .or_else(super::aggregate::default_cache_dir);
        let r = super::aggregate::verify_aggregate(
            &self.aggregate,
            &self.run,
            dzk_verifier::audit::SrsSource::Dir(&self.params),
            None,
            cache.as_deref(),
            true,
        )?;
        if r.insecure_setup {
            eprintln!(
                "warning: the SRS is an INSECURE dev setup: a contract made with it accepts forged proofs"
            );
        }
        let pb = spinner("writing the Solidity verifier");
        let source = dzk_evm::verifier_solidity(&r.params, &r.vk, r.instances.len());
        write_atomic(&self.out, source.as_bytes())?;
        pb.finish_and_clear();
        let mut report = json!({
            "source": self.out, "root": r.root, "public_values": r.instances.len(),
            "transcript": r.transcript.name(), "vk_source": r.vk_source.as_str(),
        });
        if let Some(solc) = solc {
            let pb = spinner(&format!("compiling with solc {}", solc.version()));
            let compiled = solc.compile(&source, CONTRACT)?;
            pb.finish_and_clear();
            dzk_evm::check_size(&compiled)?;
            let bin = self
                .bytecode
                .clone()
                .unwrap_or_else(|| self.out.with_extension("bin"));
            write_atomic(&bin, dzk_evm::to_hex(&compiled.deployment).as_bytes())?;
            report["bytecode"] = json!(bin);
            report["runtime_bytes"] = json!(compiled.runtime.len());
            report["deployment_bytes"] = json!(compiled.deployment.len());
            // The contract is tried on this very proof in a local EVM, so a contract that would reject the run
            // it was made for is never handed out.
            let mut evm = LocalEvm::new();
            let deployed = evm.deploy(&compiled.deployment)?;
            report["deploy_gas"] = json!(deployed.gas);
            if r.transcript == Transcript::Keccak {
                let data = dzk_evm::calldata(&r.instances, &r.proof);
                match evm.call(deployed.address, &data)? {
                    Ok(gas) => {
                        report["verify_gas"] = json!(gas);
                        report["calldata_bytes"] = json!(data.len());
                    }
                    Err(why) => anyhow::bail!(
                        "the contract made for {} rejects its proof in a local EVM ({why}); this is a bug in dzk",
                        self.aggregate.display()
                    ),
                }
            } else {
                eprintln!(
                    "note: {} was made with the Poseidon transcript, which the contract does not read; \
                     `dzk aggregate --evm` makes a proof it checks",
                    self.aggregate.display()
                );
            }
        }
        if self.json {
            println!("{report}");
        } else {
            println!("Solidity verifier: {}", self.out.display());
            if let Some(bin) = report["bytecode"].as_str() {
                println!(
                    "bytecode: {bin} ({} bytes deployed of the {CONTRACT_SIZE_LIMIT} allowed; deployment {} gas)",
                    report["runtime_bytes"], report["deploy_gas"]
                );
            }
            if let Some(gas) = report["verify_gas"].as_u64() {
                println!(
                    "checked in a local EVM: this proof verifies for {gas} gas ({} bytes of calldata)",
                    report["calldata_bytes"]
                );
            }
            println!("root {}", r.root);
        }
        Ok(())
    }
}

/// Arguments of `dzk verify-evm`.
#[derive(Debug, Args)]
pub struct VerifyEvmCmd {
    /// The verifier's deployment bytecode (`dzk export-solidity`), 0x-hex.
    #[arg(long, value_name = "FILE")]
    pub bytecode: PathBuf,
    /// The calldata (`dzk aggregate --evm-calldata`), 0x-hex.
    #[arg(long, value_name = "FILE")]
    pub calldata: PathBuf,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn read_hex(path: &Path) -> anyhow::Result<Vec<u8>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    dzk_evm::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: not 0x-hex: {e}", path.display()))
}

impl VerifyEvmCmd {
    /// Runs the command: deploys the contract in a local EVM (mainnet rules) and calls it. Exit 0 when the
    /// call succeeds, 1 when the contract reverts.
    pub fn run(self) -> anyhow::Result<()> {
        let code = read_hex(&self.bytecode)?;
        let data = read_hex(&self.calldata)?;
        let mut evm = LocalEvm::new();
        let deployed = evm
            .deploy(&code)
            .with_context(|| format!("deploying {}", self.bytecode.display()))?;
        match evm.call(deployed.address, &data)? {
            Ok(gas) => {
                if self.json {
                    println!(
                        "{}",
                        json!({"verdict": "valid", "deploy_gas": deployed.gas, "verify_gas": gas,
                               "calldata_bytes": data.len()})
                    );
                } else {
                    println!(
                        "deployed for {} gas; the call succeeded for {gas} gas",
                        deployed.gas
                    );
                    println!("VALID");
                }
                Ok(())
            }
            Err(why) => {
                if self.json {
                    println!(
                        "{}",
                        json!({"verdict": "rejected", "reason": why, "deploy_gas": deployed.gas})
                    );
                } else {
                    println!("REJECTED");
                }
                Err(Rejected(format!(
                    "{}: the contract {} {why}",
                    self.calldata.display(),
                    self.bytecode.display()
                ))
                .into())
            }
        }
    }
}
