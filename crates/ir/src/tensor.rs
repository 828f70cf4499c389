//! A dense row-major tensor of fixed-point integers.

/// A dense, row-major (numpy C order) tensor of `i64` fixed-point values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<i64>,
}

/// The number of elements of a shape, or `None` if it overflows `usize`.
pub(crate) fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Row-major strides of a shape (whose element count is known not to overflow).
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

impl Tensor {
    /// A tensor from its shape and row-major data; fails if the lengths disagree.
    pub fn new(shape: Vec<usize>, data: Vec<i64>) -> Result<Self, String> {
        match numel(&shape) {
            Some(n) if n == data.len() => Ok(Self { shape, data }),
            Some(n) => Err(format!(
                "shape {shape:?} holds {n} values but {} were given",
                data.len()
            )),
            None => Err(format!("shape {shape:?} is too large")),
        }
    }

    /// A tensor filled with one value.
    pub fn filled(shape: Vec<usize>, value: i64) -> Result<Self, String> {
        let n = numel(&shape).ok_or_else(|| format!("shape {shape:?} is too large"))?;
        Ok(Self {
            shape,
            data: vec![value; n],
        })
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The row-major values.
    pub fn data(&self) -> &[i64] {
        &self.data
    }

    /// Consumes the tensor, returning its values.
    pub fn into_data(self) -> Vec<i64> {
        self.data
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The smallest and largest value, or `None` for an empty tensor.
    pub fn range(&self) -> Option<(i64, i64)> {
        let min = self.data.iter().copied().min()?;
        let max = self.data.iter().copied().max()?;
        Some((min, max))
    }

    /// The index of the largest value (the first one on ties), or `None` for an empty tensor.
    pub fn argmax(&self) -> Option<usize> {
        let mut best: Option<(usize, i64)> = None;
        for (i, &v) in self.data.iter().enumerate() {
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((i, v));
            }
        }
        best.map(|(i, _)| i)
    }

    /// The same values under another shape with the same element count.
    pub fn reshape(self, shape: Vec<usize>) -> Result<Self, String> {
        Self::new(shape, self.data)
    }

    /// Numpy broadcasting of this tensor to `shape` (dimensions aligned on the right, size 1 stretches).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Self, String> {
        if self.shape == shape {
            return Ok(self.clone());
        }
        let err = || format!("cannot broadcast shape {:?} to {:?}", self.shape, shape);
        if self.shape.len() > shape.len() {
            return Err(err());
        }
        let offset = shape.len() - self.shape.len();
        let src_strides = strides(&self.shape);
        // Stride 0 where the source dimension stretches.
        let mut map = vec![0usize; shape.len()];
        for (i, &d) in self.shape.iter().enumerate() {
            let target = shape[offset + i];
            if d == target {
                map[offset + i] = src_strides[i];
            } else if d != 1 {
                return Err(err());
            }
        }
        let n = numel(shape).ok_or_else(err)?;
        let mut data = Vec::with_capacity(n);
        let mut index = vec![0usize; shape.len()];
        for _ in 0..n {
            let src: usize = index.iter().zip(&map).map(|(i, s)| i * s).sum();
            data.push(self.data[src]);
            for ax in (0..shape.len()).rev() {
                index[ax] += 1;
                if index[ax] < shape[ax] {
                    break;
                }
                index[ax] = 0;
            }
        }
        Ok(Self {
            shape: shape.to_vec(),
            data,
        })
    }

    /// Permutes the axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Self, String> {
        let nd = self.shape.len();
        let mut seen = vec![false; nd];
        if perm.len() != nd
            || perm
                .iter()
                .any(|&p| p >= nd || std::mem::replace(&mut seen[p], true))
        {
            return Err(format!(
                "{perm:?} is not a permutation of the {nd} axes of shape {:?}",
                self.shape
            ));
        }
        let src_strides = strides(&self.shape);
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        let map: Vec<usize> = perm.iter().map(|&p| src_strides[p]).collect();
        Ok(Self {
            data: gather(&shape, &map, 0, &self.data),
            shape,
        })
    }

    /// The sub-tensor `start[i] .. start[i] + len[i]` on every axis.
    pub fn slice(&self, start: &[usize], len: &[usize]) -> Result<Self, String> {
        let nd = self.shape.len();
        if start.len() != nd || len.len() != nd {
            return Err(format!(
                "slice needs {nd} starts and sizes for shape {:?}",
                self.shape
            ));
        }
        for ax in 0..nd {
            if start[ax]
                .checked_add(len[ax])
                .is_none_or(|end| end > self.shape[ax])
            {
                return Err(format!(
                    "slice {}..{} is out of bounds on axis {ax} of shape {:?}",
                    start[ax],
                    start[ax].saturating_add(len[ax]),
                    self.shape
                ));
            }
        }
        let src_strides = strides(&self.shape);
        let base: usize = start.iter().zip(&src_strides).map(|(a, s)| a * s).sum();
        Ok(Self {
            data: gather(len, &src_strides, base, &self.data),
            shape: len.to_vec(),
        })
    }

    /// Reverses the order of elements along each listed axis.
    pub fn flip(&self, axes: &[usize]) -> Result<Self, String> {
        let nd = self.shape.len();
        if let Some(&a) = axes.iter().find(|&&a| a >= nd) {
            return Err(format!(
                "axis {a} is out of range for shape {:?}",
                self.shape
            ));
        }
        let st = strides(&self.shape);
        let mut out = Vec::with_capacity(self.data.len());
        let mut index = vec![0usize; nd];
        for _ in 0..self.data.len() {
            let src: usize = (0..nd)
                .map(|ax| {
                    let i = if axes.contains(&ax) {
                        self.shape[ax] - 1 - index[ax]
                    } else {
                        index[ax]
                    };
                    i * st[ax]
                })
                .sum();
            out.push(self.data[src]);
            for ax in (0..nd).rev() {
                index[ax] += 1;
                if index[ax] < self.shape[ax] {
                    break;
                }
                index[ax] = 0;
            }
        }
        Ok(Self {
            shape: self.shape.clone(),
            data: out,
        })
    }
}

/// Reads `data` at `base + Σ index[i]·stride[i]` for every index of `shape`, in row-major order.
fn gather(shape: &[usize], stride: &[usize], base: usize, data: &[i64]) -> Vec<i64> {
    let n = numel(shape).unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let mut index = vec![0usize; shape.len()];
    for _ in 0..n {
        let src: usize = base + index.iter().zip(stride).map(|(i, s)| i * s).sum::<usize>();
        out.push(data[src]);
        for ax in (0..shape.len()).rev() {
            index[ax] += 1;
            if index[ax] < shape[ax] {
                break;
            }
            index[ax] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], data: &[i64]) -> Tensor {
        Tensor::new(shape.to_vec(), data.to_vec()).expect("valid tensor")
    }

    #[test]
    fn new_rejects_length_mismatch() {
        assert!(Tensor::new(vec![2, 2], vec![1, 2, 3]).is_err());
    }

    #[test]
    fn broadcast_numpy_rules() {
        let b = t(&[3], &[1, 2, 3])
            .broadcast_to(&[2, 3])
            .expect("broadcast");
        assert_eq!(b.data(), &[1, 2, 3, 1, 2, 3]);
        let c = t(&[2, 1], &[7, 8])
            .broadcast_to(&[2, 3])
            .expect("broadcast");
        assert_eq!(c.data(), &[7, 7, 7, 8, 8, 8]);
        let s = t(&[], &[5]).broadcast_to(&[2]).expect("scalar");
        assert_eq!(s.data(), &[5, 5]);
        assert!(t(&[2], &[1, 2]).broadcast_to(&[3]).is_err());
    }

    #[test]
    fn permute_transposes() {
        let m = t(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let p = m.permute(&[1, 0]).expect("permute");
        assert_eq!(p.shape(), &[3, 2]);
        assert_eq!(p.data(), &[1, 4, 2, 5, 3, 6]);
        assert!(m.permute(&[0, 0]).is_err());
    }

    #[test]
    fn slice_and_flip() {
        let m = t(&[3, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(
            m.slice(&[1, 1], &[2, 2]).expect("slice").data(),
            &[5, 6, 8, 9]
        );
        assert!(m.slice(&[2, 0], &[2, 1]).is_err());
        assert_eq!(
            m.flip(&[1]).expect("flip").data(),
            &[3, 2, 1, 6, 5, 4, 9, 8, 7]
        );
    }

    #[test]
    fn argmax_takes_first_on_ties() {
        assert_eq!(t(&[4], &[1, 9, 9, 0]).argmax(), Some(1));
    }
}
