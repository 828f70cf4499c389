//! The command line grammar: one variant per subcommand, each in its own module.

mod aggregate;
mod aggregate_node;
mod aggregate_verify;
mod evm;
mod extract;
mod forward;
mod import;
mod inspect;
mod inspect_artifact;
mod keygen;
mod kit;
mod merkle;
mod partition;
mod prove_chunk;
mod setup;
mod synth;
mod verify_all;

use clap::{Parser, Subcommand};

/// dzk: prove ML inference in zero knowledge, across many machines.
#[derive(Debug, Parser)]
#[command(name = "dzk", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a zkml model, config or input file (layers, shapes, parameters, value ranges), or what one of
    /// dzk's own files holds.
    Inspect(inspect::InspectCmd),
    /// Run a model on an input in zkml's exact fixed-point arithmetic and print (or write) its outputs.
    Forward(forward::ForwardCmd),
    /// Import an ONNX model: lower its nodes to zkml layers at a fixed-point scale (optionally calibrated on
    /// samples) and write a model file that partition, prove and verify take.
    Import(import::ImportCmd),
    /// Turn real-valued inputs (JSON or .npy) into a zkml input file at a model's scale.
    ImportInput(import::ImportInputCmd),
    /// Write a model file from a weight-less config with deterministic synthetic weights.
    Synth(synth::SynthCmd),
    /// Write a run of a model's layers (a transformer block, an attention) as a model file of its own, and its
    /// input file from the whole model's forward pass.
    Extract(extract::ExtractCmd),
    /// Cut a model into chunks with the cost model; write the plan and one model slice per chunk.
    Partition(partition::PartitionCmd),
    /// Make the KZG SRS all chunks share: a dev setup (insecure) or an imported ceremony file.
    Setup(setup::SetupCmd),
    /// Make each chunk's verifying and proving keys; record the vk digests in the plan.
    Keygen(keygen::KeygenCmd),
    /// Prove one chunk from its input boundary file.
    ProveChunk(prove_chunk::ProveChunkCmd),
    /// Prove every chunk on this machine.
    Prove(prove_chunk::ProveCmd),
    /// Compute every chunk's input boundary file ahead (forward passes only), so all chunks can be proven at once.
    Boundaries(prove_chunk::BoundariesCmd),
    /// Compute the Merkle root over the chunk proofs' commitments, or check an inclusion path.
    Merkle(merkle::MerkleCmd),
    /// Check a whole run: every proof, every link, the plan, the root. Exit 0 valid, 1 rejected.
    VerifyAll(verify_all::VerifyAllCmd),
    /// Check one chunk proof against a kit (or a run and its SRS). Exit 0 valid, 1 rejected.
    Verify(kit::VerifyCmd),
    /// Write the auditor's kit: the plan, the chunks' verifying keys and the verifier's part of the SRS
    /// (kilobytes), with which `verify-all --kit` and `verify --kit` need neither the run nor the SRS.
    ExportVerifier(kit::ExportVerifierCmd),
    /// Aggregate every chunk proof of a verified run into one proof (links and Merkle root proven inside).
    Aggregate(aggregate::AggregateCmd),
    /// Prove one node of a tree of aggregations from its children's proofs, so a cluster proves every node of
    /// a level at once; the root writes the run's aggregated proof.
    AggregateNode(aggregate_node::AggregateNodeCmd),
    /// Write the Solidity verifier of a run's aggregated proof, compiled (solc-js) and tried in a local EVM.
    ExportSolidity(evm::ExportSolidityCmd),
    /// Deploy a verifier contract in a local EVM and call it with calldata. Exit 0 accepted, 1 reverted.
    VerifyEvm(evm::VerifyEvmCmd),
    /// Say which prover `--backend auto` uses here: the NVIDIA driver and its devices, the GPU prover binary
    /// (dzk-gpu) and whether it starts.
    Devices(crate::backend::DevicesCmd),
}

impl Command {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Inspect(cmd) => cmd.run(),
            Command::Forward(cmd) => cmd.run(),
            Command::Synth(cmd) => cmd.run(),
            Command::Extract(cmd) => cmd.run(),
            Command::Import(cmd) => cmd.run(),
            Command::ImportInput(cmd) => cmd.run(),
            Command::Partition(cmd) => cmd.run(),
            Command::Setup(cmd) => cmd.run(),
            Command::Keygen(cmd) => cmd.run(),
            Command::ProveChunk(cmd) => cmd.run(),
            Command::Prove(cmd) => cmd.run(),
            Command::Boundaries(cmd) => cmd.run(),
            Command::Merkle(cmd) => cmd.run(),
            Command::VerifyAll(cmd) => cmd.run(),
            Command::Verify(cmd) => cmd.run(),
            Command::ExportVerifier(cmd) => cmd.run(),
            Command::Aggregate(cmd) => cmd.run(),
            Command::AggregateNode(cmd) => cmd.run(),
            Command::ExportSolidity(cmd) => cmd.run(),
            Command::VerifyEvm(cmd) => cmd.run(),
            Command::Devices(cmd) => cmd.run(),
        }
    }
}
