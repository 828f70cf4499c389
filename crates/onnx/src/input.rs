//! Real-valued inputs: read from JSON or `.npy`, quantised into a zkml input file at a model's scale.

use std::path::Path;

use dzk_ir::{Model, Tensor, TensorFile};

/// One real-valued input array (its shape where the file gives one).
#[derive(Clone, Debug, PartialEq)]
pub struct FloatInput {
    /// The shape, `None` for a JSON array (it is flattened and must match the model's input size).
    pub shape: Option<Vec<usize>>,
    /// Row-major values.
    pub values: Vec<f64>,
}

fn flatten(v: &serde_json::Value, out: &mut Vec<f64>) -> Result<(), String> {
    match v {
        serde_json::Value::Number(x) => {
            out.push(x.as_f64().ok_or("a number out of range")?);
            Ok(())
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(|i| flatten(i, out)),
        other => Err(format!("expected numbers, found {other}")),
    }
}

fn from_json(v: &serde_json::Value) -> Result<Vec<FloatInput>, String> {
    let arrays: Vec<&serde_json::Value> = match v {
        serde_json::Value::Object(m) => match m.get("inputs") {
            Some(serde_json::Value::Array(a)) => a.iter().collect(),
            _ => return Err("an object must hold \"inputs\": [one array per model input]".into()),
        },
        serde_json::Value::Array(_) => vec![v],
        _ => {
            return Err(
                "expected an array of numbers (nested as you like) or {\"inputs\": [...]}".into(),
            )
        }
    };
    arrays
        .into_iter()
        .map(|a| {
            let mut values = Vec::new();
            flatten(a, &mut values)?;
            Ok(FloatInput {
                shape: None,
                values,
            })
        })
        .collect()
}

/// Parses a `.npy` array (little-endian f32, f64, i32, i64 or u8, C order).
fn from_npy(b: &[u8]) -> Result<FloatInput, String> {
    if !b.starts_with(b"\x93NUMPY") || b.len() < 10 {
        return Err("not a .npy file (no NUMPY magic)".into());
    }
    let (hlen, start): (usize, usize) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => return Err(format!(".npy version {v} is not supported")),
    };
    let header = b
        .get(start..start.saturating_add(hlen))
        .ok_or(".npy header is truncated")?;
    let header = std::str::from_utf8(header).map_err(|_| ".npy header is not text")?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or(".npy header has no descr")?;
    if field("fortran_order").is_some_and(|r| r.starts_with("True")) {
        return Err("Fortran-ordered .npy arrays are not supported".into());
    }
    let shape_text = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or(".npy header has no shape")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad .npy dimension '{s}'"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= 1 << 28)
        .ok_or(".npy array is too large")?;
    let data = &b[start + hlen..];
    let width = match descr {
        "<f4" | "<i4" => 4,
        "<f8" | "<i8" => 8,
        "|u1" | "<u1" | "|i1" => 1,
        d => {
            return Err(format!(
                ".npy dtype {d} is not supported (use float32, float64, int32, int64 or uint8)"
            ))
        }
    };
    if data.len() != n * width {
        return Err(format!(
            ".npy data holds {} bytes, the shape needs {}",
            data.len(),
            n * width
        ));
    }
    let values = data
        .chunks(width)
        .map(|c| match descr {
            "<f4" => f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            "<i4" => f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            "<f8" => f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
            "<i8" => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64,
            "|i1" => f64::from(c[0] as i8),
            _ => f64::from(c[0]),
        })
        .collect();
    Ok(FloatInput {
        shape: Some(shape),
        values,
    })
}

/// Reads real-valued inputs: a `.npy` array (one input), or JSON: a (nested) array of numbers for a model with
/// one input, or `{"inputs": [array, ...]}` with one array per model input.
pub fn read_float_input(path: &Path) -> Result<Vec<FloatInput>, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let at = |e: String| format!("{}: {e}", path.display());
    if b.starts_with(b"\x93NUMPY") {
        return from_npy(&b).map(|x| vec![x]).map_err(at);
    }
    let v: serde_json::Value =
        serde_json::from_slice(&b).map_err(|e| at(format!("neither .npy nor JSON ({e})")))?;
    from_json(&v).map_err(at)
}

/// Reads calibration samples: JSON `[sample, ...]`, each sample as [`read_float_input`] takes it, or one `.npy`
/// array whose first axis counts the samples (a model with one input).
pub fn read_samples(path: &Path) -> Result<Vec<Vec<FloatInput>>, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let at = |e: String| format!("{}: {e}", path.display());
    if b.starts_with(b"\x93NUMPY") {
        let all = from_npy(&b).map_err(at)?;
        let shape = all.shape.clone().unwrap_or_default();
        let count = *shape
            .first()
            .ok_or_else(|| at("a sample array needs a leading axis".into()))?;
        let per = all.values.len() / count.max(1);
        return Ok(all
            .values
            .chunks(per.max(1))
            .map(|c| {
                vec![FloatInput {
                    shape: Some(shape[1..].to_vec()),
                    values: c.to_vec(),
                }]
            })
            .collect());
    }
    let v: serde_json::Value =
        serde_json::from_slice(&b).map_err(|e| at(format!("neither .npy nor JSON ({e})")))?;
    match v {
        serde_json::Value::Array(items) if !items.is_empty() => {
            items.iter().map(|s| from_json(s).map_err(at)).collect()
        }
        _ => Err(at("expected a non-empty JSON array of samples".into())),
    }
}

/// Quantises real inputs at `model`'s scale (`round(x · sf)`, halves to even as numpy rounds, which zkml's
/// input converter uses) into an input file for the model's inputs, in order.
pub fn float_inputs(model: &Model, inputs: &[FloatInput]) -> Result<TensorFile, String> {
    let idxes = model.declared_inputs();
    if inputs.len() != idxes.len() {
        return Err(format!(
            "the model takes {} inputs, {} were given",
            idxes.len(),
            inputs.len()
        ));
    }
    let sf = model.scale() as f64;
    let mut tensors = Vec::new();
    for (k, (x, &idx)) in inputs.iter().zip(idxes).enumerate() {
        let shape = model
            .tensor_shape(idx)
            .ok_or_else(|| format!("the model does not declare the shape of input {k}"))?;
        let want: usize = shape.iter().product();
        if x.values.len() != want {
            return Err(format!(
                "input {k} has {} values{}, the model's input of shape {shape:?} takes {want}",
                x.values.len(),
                x.shape
                    .as_ref()
                    .map(|s| format!(" (shape {s:?})"))
                    .unwrap_or_default()
            ));
        }
        let data = x
            .values
            .iter()
            .map(|&v| {
                let q = (v * sf).round_ties_even();
                if q.is_finite() && q.abs() < 2f64.powi(31) {
                    Ok(q as i64)
                } else {
                    Err(format!("input {k}: value {v} does not fit at scale {sf}"))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        tensors.push((idx, Tensor::new(shape, data)?));
    }
    TensorFile::new(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_arrays_parse() {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        let pad = 64 - (10 + header.len() + 1) % 64;
        let header = format!("{header}{}\n", " ".repeat(pad));
        b.extend((header.len() as u16).to_le_bytes());
        b.extend(header.as_bytes());
        for v in [1.0f32, -2.5, 0.25, 3.0] {
            b.extend(v.to_le_bytes());
        }
        let x = from_npy(&b).expect("npy");
        assert_eq!(x.shape, Some(vec![2, 2]));
        assert_eq!(x.values, vec![1.0, -2.5, 0.25, 3.0]);
        assert!(from_npy(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn json_inputs_parse() {
        let one: serde_json::Value = serde_json::json!([[1, 2], [3.5, 4]]);
        assert_eq!(
            from_json(&one).expect("json")[0].values,
            vec![1.0, 2.0, 3.5, 4.0]
        );
        let two = serde_json::json!({"inputs": [[1], [2, 3]]});
        assert_eq!(from_json(&two).expect("json").len(), 2);
        assert!(from_json(&serde_json::json!("x")).is_err());
        assert!(from_json(&serde_json::json!([1, "a"])).is_err());
    }
}
