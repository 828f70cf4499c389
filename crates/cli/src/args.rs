//! Argument groups shared by several subcommands, and the model loading they drive.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use dzk_ir::{Model, TensorFile};

/// How to obtain a model's weights.
#[derive(Debug, Args)]
pub struct WeightArgs {
    /// Fill weights missing from a config file (and free tensors the input does not supply) with
    /// deterministic pseudo-random values from this seed. For scale work without real weights.
    #[arg(long, value_name = "SEED")]
    pub synthetic_weights: Option<u64>,
}

impl WeightArgs {
    /// Loads `path`, adding synthetic weights when asked; `keep_free` are tensors an input file supplies.
    pub fn load_model(
        &self,
        path: &Path,
        keep_free: &[i64],
        need_weights: bool,
    ) -> anyhow::Result<Model> {
        let model = Model::load(path).context("loading model")?;
        match self.synthetic_weights {
            Some(seed) => model
                .with_synthetic_weights(seed, keep_free)
                .context("generating synthetic weights"),
            None if need_weights && model.is_config() => Err(no_weights(path)),
            None => Ok(model),
        }
    }
}

/// The one error every command gives for a config file (a model without its weights).
pub fn no_weights(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: the model has no weights (a config file): give --synthetic-weights SEED, or write a model with \
         `dzk synth`",
        path.display()
    )
}

/// Loads a zkml input file.
pub fn load_input(path: &Path) -> anyhow::Result<TensorFile> {
    TensorFile::load(path).context("loading input")
}

/// The indices an input file supplies.
pub fn supplied(input: &TensorFile) -> Vec<i64> {
    input.tensors().iter().map(|(i, _)| *i).collect()
}
