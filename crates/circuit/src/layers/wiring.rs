//! Wiring layers: outputs that are cells of the inputs moved about (or constants), with no arithmetic.

use std::collections::BTreeMap;

use dzk_ir::{Layer, Model, Tensor};
use halo2_proofs::plonk::Error;

use super::{constant, CellTensor};
use crate::ops::Ops;

/// Where an output element of a wiring layer comes from.
#[derive(Clone)]
enum Src<C> {
    Cell(C),
    Const(i64),
}

/// A wiring layer (Reshape, Transpose, Concatenation, Pack, Split, Slice, Pad, Broadcast, Rotate, ResizeNN,
/// Noop, MaskNegInf): dzk-ir moves element ids with the forward pass's own code, and the outputs take the cells
/// the ids name. Constants (a shape tensor being concatenated, padding zeros, MaskNegInf's `min_val`) become
/// cells fixed by an affine `0·anchor + c`, one per distinct value.
pub(super) fn wire<O: Ops>(
    ops: &mut O,
    model: &Model,
    index: usize,
    l: &Layer,
    env: &BTreeMap<i64, CellTensor<O::C>>,
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let mut table: Vec<Src<O::C>> = Vec::new();
    let mut payloads = Vec::with_capacity(l.inputs.len());
    for i in &l.inputs {
        let (shape, srcs): (Vec<usize>, Vec<Src<O::C>>) = match (env.get(i), constant(model, *i)) {
            (Some(t), _) => (
                t.shape.clone(),
                t.cells.iter().cloned().map(Src::Cell).collect(),
            ),
            (None, Some(c)) => (
                c.shape().to_vec(),
                c.data().iter().map(|&v| Src::Const(v)).collect(),
            ),
            (None, None) => return Err(Error::Synthesis),
        };
        let first = table.len() as i64 + 1;
        let ids = (first..first + srcs.len() as i64).collect();
        table.extend(srcs);
        payloads.push(Tensor::new(shape, ids).map_err(|_| Error::Synthesis)?);
    }
    let outs = model
        .wire(index, &payloads.iter().collect::<Vec<_>>())
        .map_err(|_| Error::Synthesis)?;
    // Ids are 1..=n; anything else is a constant the layer filled in (0 for padding, min_val for MaskNegInf).
    let source = |id: i64| match usize::try_from(id - 1).ok().and_then(|i| table.get(i)) {
        Some(s) => s.clone(),
        None => Src::Const(id),
    };
    // Cells for the constants the outputs use, each made once.
    let anchor = table
        .iter()
        .find_map(|s| {
            if let Src::Cell(c) = s {
                Some(c.clone())
            } else {
                None
            }
        })
        .ok_or(Error::Synthesis)?;
    let mut wanted: Vec<i64> = outs
        .iter()
        .flat_map(|t| {
            t.data().iter().filter_map(|&id| {
                if let Src::Const(v) = source(id) {
                    Some(v)
                } else {
                    None
                }
            })
        })
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let made = ops.affine(
        &wanted
            .iter()
            .map(|&v| (anchor.clone(), 0, None, v))
            .collect::<Vec<_>>(),
    )?;
    let consts: BTreeMap<i64, O::C> = wanted.into_iter().zip(made).collect();
    outs.iter()
        .map(|t| {
            let cells = t
                .data()
                .iter()
                .map(|&id| match source(id) {
                    Src::Cell(c) => Ok(c),
                    Src::Const(v) => consts.get(&v).cloned().ok_or(Error::Synthesis),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(CellTensor {
                shape: t.shape().to_vec(),
                cells,
            })
        })
        .collect()
}
