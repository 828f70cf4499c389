//! Deterministic synthetic weights for weight-less config files.

use crate::tensor::numel;
use crate::zkml::{decode, WireModel, WireTensor};
use crate::{IrError, Model, Tensor, TensorInfo};

/// The largest tensor (in values) that synthetic weights will fill.
const MAX_SYNTHETIC_VALUES: usize = 1 << 28;

/// SplitMix64: a tiny, well-mixed deterministic generator (no external RNG, so results never change).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Model {
    /// Fills every constant that has no values and every free tensor the model reads, except `keep_free`
    /// (the tensors an input file will supply), with deterministic pseudo-random values from `seed`.
    ///
    /// Values are uniform in `[-r, r]` with `r = max(1, sf / √fan_in)` (fan-in: the last dimension), which keeps
    /// activations of deep models in range. The same seed always gives the same weights.
    pub fn with_synthetic_weights(mut self, seed: u64, keep_free: &[i64]) -> Result<Self, IrError> {
        let mut missing: Vec<(i64, Vec<usize>)> = self
            .tensors
            .iter()
            .filter(|(i, t)| t.data.is_none() && !keep_free.contains(i))
            .map(|(i, t)| (*i, t.shape.clone()))
            .collect();
        missing.extend(
            self.free_tensors()
                .into_iter()
                .filter(|(i, _)| !keep_free.contains(i)),
        );
        for (idx, shape) in missing {
            let n = numel(&shape)
                .filter(|&n| n <= MAX_SYNTHETIC_VALUES)
                .ok_or_else(|| IrError::Tensor {
                    file: self.source.clone(),
                    idx,
                    reason: format!("shape {shape:?} is too large for synthetic weights"),
                })?;
            let fan_in = shape.last().copied().unwrap_or(1).max(1) as f64;
            let r = ((self.scale as f64) / fan_in.sqrt()).max(1.0) as u64;
            let mut rng = SplitMix64(seed ^ (idx as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
            let data = (0..n)
                .map(|_| (rng.next() % (2 * r + 1)) as i64 - r as i64)
                .collect();
            let t = Tensor::new(shape.clone(), data).map_err(|reason| IrError::Tensor {
                file: self.source.clone(),
                idx,
                reason,
            })?;
            self.tensors.insert(
                idx,
                TensorInfo {
                    shape,
                    data: Some(t),
                },
            );
        }
        Ok(self)
    }
}

impl Model {
    /// A zkml model file: the model or config file `bytes` with every weight it lacks filled in by
    /// [`Model::with_synthetic_weights`] (`seed`), so that it can be partitioned, proven and verified like a
    /// model with real weights. `keep_free` are the tensors an input file supplies; `None` keeps the file's
    /// declared inputs that no layer writes. `dzk forward` of the result equals `dzk forward
    /// --synthetic-weights SEED` of the config on an input that supplies the same tensors.
    pub fn synthesize_file(
        bytes: &[u8],
        file: &str,
        seed: u64,
        keep_free: Option<&[i64]>,
    ) -> Result<Vec<u8>, IrError> {
        let mut wire: WireModel = decode(bytes, file, "model")?;
        let model = Self::from_wire(wire.clone(), file)?;
        let keep: Vec<i64> = match keep_free {
            Some(k) => k.to_vec(),
            None => {
                let free = model.free_tensors();
                model
                    .declared_inputs
                    .iter()
                    .copied()
                    .filter(|i| free.contains_key(i))
                    .collect()
            }
        };
        let model = model.with_synthetic_weights(seed, &keep)?;
        wire.tensors = model
            .tensors
            .iter()
            .filter_map(|(&idx, t)| {
                t.data.as_ref().map(|d| WireTensor {
                    idx,
                    shape: t.shape.iter().map(|&s| s as i64).collect(),
                    data: d.data().to_vec(),
                })
            })
            .collect();
        rmp_serde::to_vec_named(&wire).map_err(|e| IrError::Model {
            file: file.into(),
            reason: format!("cannot encode the model: {e}"),
        })
    }
}
