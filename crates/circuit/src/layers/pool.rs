//! Pooling and reductions: AvgPool2D, MaxPool2D (VALID windows over `[1, H, W, C]`) and Mean.

use dzk_gadgets::rescale::Quotient;
use dzk_ir::{conv_geometry, ConvGeometry, Layer, Padding};
use halo2_proofs::plonk::Error;

use super::{input, CellTensor, Env};
use crate::ops::Ops;

/// AvgPool2D: `round(sum / (window area))` of each window, a checked rescale.
pub(super) fn avg_pool<O: Ops>(
    ops: &mut O,
    l: &Layer,
    env: &Env<O::C>,
    (window, stride): ((usize, usize), (usize, usize)),
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let (windows, shape) = pool_windows(&input(env, l, 0)?, window, stride)?;
    let div = (window.0 * window.1) as i64;
    let mut sums = Vec::with_capacity(windows.len());
    for w in &windows {
        sums.push((ops.dot(w, &vec![1; w.len()], 0)?, 1, div));
    }
    Ok(vec![CellTensor {
        shape,
        cells: ops.rescale(&sums, Quotient::Check)?,
    }])
}

/// MaxPool2D: the maximum of each window, a tree of proven pairwise maxima.
pub(super) fn max_pool<O: Ops>(
    ops: &mut O,
    l: &Layer,
    env: &Env<O::C>,
    (window, stride): ((usize, usize), (usize, usize)),
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let (windows, shape) = pool_windows(&input(env, l, 0)?, window, stride)?;
    Ok(vec![CellTensor {
        shape,
        cells: max_tree(ops, windows)?,
    }])
}

/// Mean over every axis but one (batch 1), as dzk-ir computes it: `round(sum / count)` per kept index.
pub(super) fn mean<O: Ops>(
    ops: &mut O,
    l: &Layer,
    env: &Env<O::C>,
    axes: &[usize],
) -> Result<Vec<CellTensor<O::C>>, Error> {
    // Mirrors dzk-ir: batch 1, exactly one kept axis, round(sum / count) per kept index.
    let x = input(env, l, 0)?;
    let s = &x.shape;
    let keep: Vec<usize> = (1..s.len()).filter(|a| !axes.contains(a)).collect();
    let (&[keep], Some(1)) = (keep.as_slice(), s.first().copied()) else {
        return Err(Error::Synthesis);
    };
    let count = (s.iter().product::<usize>() / s[keep].max(1)) as i64;
    let stride: usize = s[keep + 1..].iter().product();
    let mut groups: Vec<Vec<O::C>> = vec![Vec::new(); s[keep]];
    for (flat, c) in x.cells.iter().enumerate() {
        groups[(flat / stride) % s[keep]].push(c.clone());
    }
    let mut sums = Vec::with_capacity(groups.len());
    for g in &groups {
        sums.push((ops.dot(g, &vec![1; g.len()], 0)?, 1, count));
    }
    Ok(vec![CellTensor {
        shape: l.output_shapes[0].clone(),
        cells: ops.rescale(&sums, Quotient::Check)?,
    }])
}

/// The cells of every VALID pooling window over `[1, H, W, C]`, in output order (row, column, channel), and the
/// output shape `[1, OH, OW, C]`.
pub(super) fn pool_windows<C: Clone>(
    x: &CellTensor<C>,
    window: (usize, usize),
    stride: (usize, usize),
) -> Result<(Vec<Vec<C>>, Vec<usize>), Error> {
    let [_, h, wd, c] = <[usize; 4]>::try_from(x.shape.as_slice()).map_err(|_| Error::Synthesis)?;
    let ConvGeometry {
        out_h: oh,
        out_w: ow,
        ..
    } = conv_geometry(h, wd, window, stride, Padding::Valid).ok_or(Error::Synthesis)?;
    let mut windows = Vec::with_capacity(oh * ow * c);
    for i in 0..oh {
        for j in 0..ow {
            for k in 0..c {
                let mut w = Vec::with_capacity(window.0 * window.1);
                for dy in 0..window.0 {
                    for dx in 0..window.1 {
                        w.push(
                            x.cells[((i * stride.0 + dy) * wd + j * stride.1 + dx) * c + k].clone(),
                        );
                    }
                }
                windows.push(w);
            }
        }
    }
    Ok((windows, vec![1, oh, ow, c]))
}

/// The maximum of each (non-empty) window: a tree of proven pairwise maxima, one level at a time for all
/// windows together.
pub(super) fn max_tree<O: Ops>(
    ops: &mut O,
    mut windows: Vec<Vec<O::C>>,
) -> Result<Vec<O::C>, Error> {
    while windows.iter().any(|w| w.len() > 1) {
        let pairs: Vec<(O::C, O::C)> = windows
            .iter()
            .flat_map(|w| w.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())))
            .collect();
        let mut maxes = ops.max_pairs(&pairs)?.into_iter();
        for w in &mut windows {
            let odd = (w.len() % 2 == 1).then(|| w[w.len() - 1].clone());
            let mut next: Vec<O::C> = maxes.by_ref().take(w.len() / 2).collect();
            next.extend(odd);
            *w = next;
        }
    }
    windows
        .into_iter()
        .map(|mut w| w.pop().ok_or(Error::Synthesis))
        .collect()
}
