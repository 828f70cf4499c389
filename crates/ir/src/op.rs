//! Typed layer operations, parsed from zkml's `layer_type` string and `params` list.

use crate::fixed::LookupFn;
use crate::tensor::numel;

/// An activation fused into a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `clamp(x, 0, 6·sf)`.
    Relu6,
}

/// Plain or depthwise convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    /// Weights `[OC, KH, KW, IC]`.
    Conv,
    /// Weights `[1, KH, KW, C]`, one filter per channel.
    Depthwise,
}

/// Convolution padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// TensorFlow SAME, with zkml's padding arithmetic.
    Same,
    /// No padding.
    Valid,
}

/// Where a convolution window sits over its input: the padding before each axis and the output size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Zero rows added above the input.
    pub pad_top: usize,
    /// Zero columns added left of the input.
    pub pad_left: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
}

/// The geometry of a `kernel` window over an `h × w` input, with zkml's SAME padding arithmetic (which takes
/// the width stride for the height when `h % stride_h == 0`). `None` when a VALID window exceeds the input.
pub fn conv_geometry(
    h: usize,
    w: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
) -> Option<ConvGeometry> {
    let ((kh, kw), (si, sj)) = (kernel, stride);
    match padding {
        Padding::Same => {
            let ph = if h.is_multiple_of(si) {
                kh.saturating_sub(sj)
            } else {
                kh.saturating_sub(h % si)
            };
            let pw = if w.is_multiple_of(sj) {
                kw.saturating_sub(sj)
            } else {
                kw.saturating_sub(w % sj)
            };
            Some(ConvGeometry {
                pad_top: ph / 2,
                pad_left: pw / 2,
                out_h: h.div_ceil(si),
                out_w: w.div_ceil(sj),
            })
        }
        Padding::Valid if h >= kh && w >= kw => Some(ConvGeometry {
            pad_top: 0,
            pad_left: 0,
            out_h: (h - kh) / si + 1,
            out_w: (w - kw) / sj + 1,
        }),
        Padding::Valid => None,
    }
}

/// A mask from a layer's params, `[ndim, shape.., values..]`, broadcast to the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    /// The mask's own shape.
    pub shape: Vec<usize>,
    /// Row-major values: 1 masks an element, 0 keeps it.
    pub values: Vec<i64>,
}

/// One layer's operation with its parameters parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Convolution with bias added after the rescale, then the activation.
    Conv2D {
        /// Plain or depthwise.
        kind: ConvKind,
        /// SAME or VALID.
        padding: Padding,
        /// None, ReLU or ReLU6.
        activation: Activation,
        /// Strides (height, width).
        stride: (usize, usize),
    },
    /// `round(x·Wᵀ / sf) + b`, then the activation.
    FullyConnected {
        /// None or ReLU.
        activation: Activation,
    },
    /// Batched `round(A·B / sf)` (`B` transposed when `adj_y`).
    BatchMatMul {
        /// Whether the second operand is given transposed.
        adj_y: bool,
    },
    /// Broadcast addition, then the activation.
    Add {
        /// None or ReLU.
        activation: Activation,
    },
    /// Broadcast subtraction.
    Sub,
    /// Broadcast `round(a·b / sf)`.
    Mul,
    /// `round(x / divisor)` by a constant divisor.
    DivFixed {
        /// The divisor, positive.
        divisor: i64,
    },
    /// `round(x·sf / d)` with `d` the single value of the second input.
    DivVar,
    /// Window sum, then `round(sum / (fh·fw))`.
    AvgPool2D {
        /// Window (height, width).
        window: (usize, usize),
        /// Strides (height, width).
        stride: (usize, usize),
    },
    /// Window maximum.
    MaxPool2D {
        /// Window (height, width).
        window: (usize, usize),
        /// Strides (height, width).
        stride: (usize, usize),
    },
    /// Mean over every axis but one: `round(sum / count)`.
    Mean {
        /// The axes reduced (the batch axis 0 is reduced too).
        axes: Vec<usize>,
    },
    /// Softmax over the last axis, masked entries giving 0.
    Softmax {
        /// The optional mask.
        mask: Option<Mask>,
    },
    /// Masked entries replaced by `min_val = -2^(k-1)`.
    MaskNegInf {
        /// The mask.
        mask: Mask,
    },
    /// An element-wise table function.
    Lookup {
        /// The function.
        f: LookupFn,
        /// zkml's Rsqrt overflow hack: `(flat index, +1 → max_val | -1 → min_val)` replacements.
        replace: Vec<(usize, i64)>,
    },
    /// `round(x² / sf)`.
    Square,
    /// Broadcast `round((a - b)² / sf)`.
    SquaredDifference,
    /// The input under the declared output shape.
    Reshape,
    /// Axis permutation.
    Transpose {
        /// Output axis i is input axis `perm[i]`.
        perm: Vec<usize>,
    },
    /// Concatenation along an axis.
    Concatenation {
        /// The axis, possibly negative (from the end).
        axis: i64,
    },
    /// Stacking along a new axis.
    Pack {
        /// The new axis.
        axis: i64,
    },
    /// Equal split of the second input along an axis.
    Split {
        /// The axis, possibly negative.
        axis: i64,
        /// Number of parts.
        parts: usize,
    },
    /// A sub-tensor.
    Slice {
        /// Start on every axis.
        begin: Vec<usize>,
        /// Size on every axis, -1 meaning "to the end".
        size: Vec<i64>,
    },
    /// Zero padding.
    Pad {
        /// `(before, after)` per axis.
        pads: Vec<(usize, usize)>,
    },
    /// Numpy broadcast to the declared output shape.
    Broadcast,
    /// Reversal along axes.
    Rotate {
        /// The axes reversed.
        axes: Vec<usize>,
    },
    /// Nearest-neighbour resize of `[1, H, W, C]` to the declared output shape.
    ResizeNearestNeighbor,
    /// Passes one input through, truncated or zero-padded to the declared output shape.
    Noop {
        /// Which input is passed.
        pass: usize,
    },
}

/// A (height, width) pair.
type Pair = (usize, usize);

fn nonneg(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} must be non-negative, got {v}"))
}

fn positive(v: i64, what: &str) -> Result<usize, String> {
    match usize::try_from(v) {
        Ok(u) if u > 0 => Ok(u),
        _ => Err(format!("{what} must be positive, got {v}")),
    }
}

fn arity(params: &[i64], n: usize) -> Result<(), String> {
    if params.len() == n {
        Ok(())
    } else {
        Err(format!("expects {n} params, got {}", params.len()))
    }
}

fn inputs(n_inputs: usize, allowed: std::ops::RangeInclusive<usize>) -> Result<(), String> {
    if allowed.contains(&n_inputs) {
        Ok(())
    } else if allowed.start() == allowed.end() {
        Err(format!(
            "expects {} inputs, got {n_inputs}",
            allowed.start()
        ))
    } else {
        Err(format!(
            "expects {} to {} inputs, got {n_inputs}",
            allowed.start(),
            allowed.end()
        ))
    }
}

fn parse_mask(params: &[i64]) -> Result<Mask, String> {
    let (&ndim, rest) = params.split_first().ok_or("mask params are empty")?;
    let ndim = nonneg(ndim, "mask rank")?;
    if rest.len() < ndim {
        return Err(format!(
            "mask rank {ndim} but only {} params follow",
            rest.len()
        ));
    }
    let shape = rest[..ndim]
        .iter()
        .map(|&d| nonneg(d, "mask dimension"))
        .collect::<Result<Vec<_>, _>>()?;
    let values = rest[ndim..].to_vec();
    let n = numel(&shape).ok_or("mask shape is too large")?;
    if values.len() != n {
        return Err(format!(
            "mask shape {shape:?} needs {n} values, params give {}",
            values.len()
        ));
    }
    if values.iter().any(|&v| v != 0 && v != 1) {
        return Err("mask values must be 0 or 1".into());
    }
    Ok(Mask { shape, values })
}

impl Op {
    /// Parses zkml's `layer_type` and `params` (and `mask`, used by Rsqrt) for a layer with `n_inputs` inputs.
    pub fn parse(
        layer_type: &str,
        params: &[i64],
        mask: &[i64],
        n_inputs: usize,
    ) -> Result<Op, String> {
        let lookup = |f: LookupFn| -> Result<Op, String> {
            inputs(n_inputs, 1..=2)?;
            Ok(Op::Lookup {
                f,
                replace: Vec::new(),
            })
        };
        let pool = |params: &[i64]| -> Result<(Pair, Pair), String> {
            arity(params, 4)?;
            inputs(n_inputs, 1..=1)?;
            Ok((
                (
                    positive(params[0], "window height")?,
                    positive(params[1], "window width")?,
                ),
                (
                    positive(params[2], "stride height")?,
                    positive(params[3], "stride width")?,
                ),
            ))
        };
        let op = match layer_type {
            "Conv2D" => {
                arity(params, 5)?;
                let kind = match params[0] {
                    0 => ConvKind::Conv,
                    1 => ConvKind::Depthwise,
                    v => return Err(format!("conv type must be 0 or 1, got {v}")),
                };
                inputs(n_inputs, if kind == ConvKind::Conv { 2..=3 } else { 3..=3 })?;
                let padding = match params[1] {
                    0 => Padding::Same,
                    1 => Padding::Valid,
                    v => return Err(format!("padding must be 0 (SAME) or 1 (VALID), got {v}")),
                };
                let activation = match params[2] {
                    0 => Activation::None,
                    1 => Activation::Relu,
                    3 => Activation::Relu6,
                    v => return Err(format!("activation must be 0, 1 or 3, got {v}")),
                };
                let stride = (positive(params[3], "stride height")?, positive(params[4], "stride width")?);
                Op::Conv2D { kind, padding, activation, stride }
            }
            "FullyConnected" => {
                if params.is_empty() {
                    return Err("expects at least 1 param (activation), got 0".into());
                }
                inputs(n_inputs, 2..=3)?;
                let activation = match params[0] {
                    0 => Activation::None,
                    1 => Activation::Relu,
                    v => return Err(format!("activation must be 0 or 1, got {v}")),
                };
                Op::FullyConnected { activation }
            }
            "BatchMatMul" => {
                arity(params, 2)?;
                inputs(n_inputs, 2..=2)?;
                if params[0] != 0 {
                    return Err("adj_x must be 0 (zkml supports no transposed first operand)".into());
                }
                match params[1] {
                    0 | 1 => Op::BatchMatMul { adj_y: params[1] == 1 },
                    v => return Err(format!("adj_y must be 0 or 1, got {v}")),
                }
            }
            "Add" => {
                inputs(n_inputs, 2..=2)?;
                let activation = match params.first().copied().unwrap_or(0) {
                    0 => Activation::None,
                    1 => Activation::Relu,
                    v => return Err(format!("activation must be 0 or 1, got {v}")),
                };
                Op::Add { activation }
            }
            "Sub" => {
                inputs(n_inputs, 2..=2)?;
                Op::Sub
            }
            "Mul" => {
                inputs(n_inputs, 2..=2)?;
                Op::Mul
            }
            "Div" => {
                arity(params, 1)?;
                inputs(n_inputs, 1..=2)?;
                Op::DivFixed { divisor: positive(params[0], "divisor")? as i64 }
            }
            "DivVar" => {
                inputs(n_inputs, 2..=2)?;
                Op::DivVar
            }
            "AveragePool2D" => {
                let (window, stride) = pool(params)?;
                Op::AvgPool2D { window, stride }
            }
            "MaxPool2D" => {
                let (window, stride) = pool(params)?;
                Op::MaxPool2D { window, stride }
            }
            "Mean" => {
                if params.is_empty() {
                    return Err("expects the reduced axes as params, got none".into());
                }
                inputs(n_inputs, 1..=2)?;
                let axes = params.iter().map(|&a| nonneg(a, "axis")).collect::<Result<_, _>>()?;
                Op::Mean { axes }
            }
            "Softmax" => {
                inputs(n_inputs, 1..=1)?;
                let mask = if params.is_empty() { None } else { Some(parse_mask(params)?) };
                Op::Softmax { mask }
            }
            "MaskNegInf" => {
                inputs(n_inputs, 1..=2)?;
                Op::MaskNegInf { mask: parse_mask(params)? }
            }
            "Logistic" => lookup(LookupFn::Logistic)?,
            // dzk's own layer type (not zkml's): `round(e^x · sf²)`, softmax's numerator table on its own.
            "Exp" => lookup(LookupFn::Exp)?,
            "Tanh" => lookup(LookupFn::Tanh)?,
            "Sqrt" => lookup(LookupFn::Sqrt)?,
            "Sin" => lookup(LookupFn::Sin)?,
            "Cos" => lookup(LookupFn::Cos)?,
            "Rsqrt" => {
                inputs(n_inputs, 1..=1)?;
                if !mask.len().is_multiple_of(2) {
                    return Err(format!("mask must hold (index, ±1) pairs, got {} values", mask.len()));
                }
                let mut replace = Vec::with_capacity(mask.len() / 2);
                for pair in mask.chunks(2) {
                    if pair[1] != 1 && pair[1] != -1 {
                        return Err(format!("mask replacement must be +1 or -1, got {}", pair[1]));
                    }
                    replace.push((nonneg(pair[0], "mask index")?, pair[1]));
                }
                Op::Lookup { f: LookupFn::Rsqrt, replace }
            }
            "Pow" => {
                if params.first().is_some_and(|&e| e != 3) {
                    return Err(format!("only exponent 3 is supported (zkml's table is x^3), got {}", params[0]));
                }
                lookup(LookupFn::Cube)?
            }
            "Square" => {
                inputs(n_inputs, 1..=1)?;
                Op::Square
            }
            "SquaredDifference" => {
                inputs(n_inputs, 2..=2)?;
                Op::SquaredDifference
            }
            "Reshape" => {
                inputs(n_inputs, 1..=2)?;
                Op::Reshape
            }
            "Transpose" | "Permute" => {
                // Transpose: params are in_shape ++ perm. Permute: params are perm.
                inputs(n_inputs, 1..=2)?;
                let perm = if layer_type == "Transpose" {
                    if !params.len().is_multiple_of(2) || params.is_empty() {
                        return Err(format!("expects in_shape ++ perm (an even count), got {} params", params.len()));
                    }
                    &params[params.len() / 2..]
                } else {
                    params
                };
                Op::Transpose { perm: perm.iter().map(|&p| nonneg(p, "axis")).collect::<Result<_, _>>()? }
            }
            "Concatenation" => {
                arity(params, 1)?;
                if n_inputs == 0 {
                    return Err("expects at least 1 input".into());
                }
                Op::Concatenation { axis: params[0] }
            }
            "Pack" => {
                arity(params, 1)?;
                if n_inputs == 0 {
                    return Err("expects at least 1 input".into());
                }
                Op::Pack { axis: params[0] }
            }
            "Split" => {
                arity(params, 2)?;
                inputs(n_inputs, 2..=2)?;
                Op::Split { axis: params[0], parts: positive(params[1], "number of parts")? }
            }
            "Slice" => {
                if !params.len().is_multiple_of(2) {
                    return Err(format!("expects begin ++ size (an even count), got {} params", params.len()));
                }
                inputs(n_inputs, 1..=3)?;
                let (b, s) = params.split_at(params.len() / 2);
                if let Some(&bad) = s.iter().find(|&&v| v < -1) {
                    return Err(format!("slice size must be -1 or non-negative, got {bad}"));
                }
                Op::Slice { begin: b.iter().map(|&v| nonneg(v, "slice begin")).collect::<Result<_, _>>()?, size: s.to_vec() }
            }
            "Pad" => {
                if !params.len().is_multiple_of(2) {
                    return Err(format!("expects (before, after) pairs, got {} params", params.len()));
                }
                inputs(n_inputs, 1..=2)?;
                let pads = params
                    .chunks(2)
                    .map(|p| Ok((nonneg(p[0], "padding")?, nonneg(p[1], "padding")?)))
                    .collect::<Result<_, String>>()?;
                Op::Pad { pads }
            }
            "Broadcast" => {
                inputs(n_inputs, 1..=2)?;
                Op::Broadcast
            }
            "Rotate" => {
                inputs(n_inputs, 1..=1)?;
                Op::Rotate { axes: params.iter().map(|&a| nonneg(a, "axis")).collect::<Result<_, _>>()? }
            }
            "ResizeNearestNeighbor" | "ResizeNN" => {
                inputs(n_inputs, 1..=2)?;
                Op::ResizeNearestNeighbor
            }
            "Noop" => {
                arity(params, 1)?;
                let pass = nonneg(params[0], "passed input")?;
                if pass >= n_inputs {
                    return Err(format!("passes input {pass} but the layer has {n_inputs} inputs"));
                }
                Op::Noop { pass }
            }
            "Update" => {
                return Err("is not supported: zkml's Update layer is unfinished (its gate and witness disagree)".into())
            }
            other => return Err(format!("unknown layer type \"{other}\"")),
        };
        Ok(op)
    }

    /// How many output tensors the op produces.
    pub fn num_outputs(&self) -> usize {
        match self {
            Op::Split { parts, .. } => *parts,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_layer_type() {
        let cases: &[(&str, &[i64], usize)] = &[
            ("Conv2D", &[0, 1, 3, 1, 1], 3),
            ("FullyConnected", &[1], 3),
            ("BatchMatMul", &[0, 1], 2),
            ("Add", &[0], 2),
            ("Sub", &[], 2),
            ("Mul", &[], 2),
            ("Div", &[4], 1),
            ("DivVar", &[], 2),
            ("AveragePool2D", &[2, 2, 2, 2], 1),
            ("MaxPool2D", &[2, 2, 2, 2], 1),
            ("Mean", &[1, 2], 1),
            ("Softmax", &[], 1),
            ("Softmax", &[2, 1, 2, 0, 1], 1),
            ("MaskNegInf", &[1, 2, 0, 1], 2),
            ("Logistic", &[], 1),
            ("Tanh", &[], 1),
            ("Rsqrt", &[], 1),
            ("Sqrt", &[], 1),
            ("Pow", &[3], 2),
            ("Sin", &[], 1),
            ("Cos", &[], 1),
            ("Square", &[], 1),
            ("SquaredDifference", &[], 2),
            ("Reshape", &[], 2),
            ("Transpose", &[2, 3, 1, 0], 2),
            ("Permute", &[1, 0], 1),
            ("Concatenation", &[0], 3),
            ("Pack", &[0], 3),
            ("Split", &[0, 2], 2),
            ("Slice", &[0, 0, 1, -1], 1),
            ("Pad", &[0, 0, 1, 1], 1),
            ("Broadcast", &[], 1),
            ("Rotate", &[0], 1),
            ("ResizeNearestNeighbor", &[0, 0], 1),
            ("Noop", &[0], 1),
        ];
        for (ty, params, n) in cases {
            Op::parse(ty, params, &[], *n).unwrap_or_else(|e| panic!("{ty}: {e}"));
        }
    }

    #[test]
    fn rejects_bad_params() {
        assert!(Op::parse("Conv2D", &[0, 1, 3, 1], &[], 3)
            .expect_err("arity")
            .contains("5 params"));
        assert!(Op::parse("Conv2D", &[0, 1, 2, 1, 1], &[], 3).is_err());
        assert!(Op::parse("Conv2D", &[0, 1, 0, 0, 1], &[], 3).is_err());
        assert!(Op::parse("Foo", &[], &[], 1)
            .expect_err("unknown")
            .contains("unknown layer type"));
        assert!(Op::parse("Update", &[], &[], 2).is_err());
        assert!(Op::parse("Softmax", &[2, 1, 2, 0], &[], 1).is_err());
        assert!(Op::parse("Pow", &[2], &[], 1).is_err());
        assert!(Op::parse("Noop", &[1], &[], 1).is_err());
        assert!(Op::parse("Add", &[], &[], 1).is_err());
        assert!(Op::parse("Rsqrt", &[], &[0, 2], 1).is_err());
    }
}
