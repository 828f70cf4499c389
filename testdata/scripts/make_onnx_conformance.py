#!/usr/bin/env python3
"""Make testdata/onnx/conformance/: one small ONNX model per operator variant (attributes, broadcasting,
operand kinds) with random weights and inputs, and onnxruntime's outputs, for `dzk import` to match.

Each case is <name>.onnx and <name>.json: {"inputs": [one flattened array per graph input], "shapes": [...],
"output": flattened first output, "output_shape": [...]}. crates/onnx/tests/conformance.rs imports every case at
scale 2^12 and compares dzk's fixed-point forward pass with the output.

Run from the repository root:  python3 testdata/scripts/make_onnx_conformance.py
Needs: numpy, onnx, onnxruntime.
"""

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "onnx", "conformance")
rng = np.random.default_rng(20261207)


def W(*shape, s=0.5):
    return rng.normal(0, s, shape).astype(np.float32)


def case(name, op, inputs, consts=None, attrs=None, opset=17, n_out=1, extra_nodes=None):
    """One node `op` over graph inputs `inputs` ({name: array}) and constants (initializers)."""
    consts = consts or {}
    attrs = attrs or {}
    outs = [f"y{i}" for i in range(n_out)]
    node_inputs = list(inputs) + [k if v is not None else "" for k, v in consts.items()]
    if extra_nodes is None:
        nodes = [helper.make_node(op, node_inputs, outs, name=name + "_node", **attrs)]
    else:
        nodes = extra_nodes
    inits = []
    for k, v in consts.items():
        if v is None:
            continue
        inits.append(numpy_helper.from_array(np.asarray(v), k))
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape)) for k, v in inputs.items()],
        [helper.make_tensor_value_info("y0", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    # (the output is declared without a shape: onnxruntime and dzk infer it)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(model, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {k: v for k, v in inputs.items()})[0]
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump({
            "inputs": [v.astype(float).round(6).reshape(-1).tolist() for v in inputs.values()],
            "shapes": [list(v.shape) for v in inputs.values()],
            "output": y.astype(float).round(6).reshape(-1).tolist(),
            "output_shape": list(y.shape),
        }, f)
        f.write("\n")


def X(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def I(v):
    return np.asarray(v, dtype=np.int64)


def main():
    os.makedirs(OUT, exist_ok=True)
    img = lambda: {"x": X(1, 3, 7, 7)}
    # Convolutions.
    case("conv_stride2_pad1", "Conv", img(), {"w": W(4, 3, 3, 3), "b": W(4)}, dict(strides=[2, 2], pads=[1, 1, 1, 1]))
    case("conv_same_lower", "Conv", img(), {"w": W(2, 3, 3, 3)}, dict(auto_pad="SAME_LOWER"))
    case("conv_asymmetric_pads", "Conv", img(), {"w": W(2, 3, 2, 3), "b": W(2)}, dict(pads=[0, 1, 1, 0]))
    case("conv_depthwise", "Conv", img(), {"w": W(3, 1, 3, 3), "b": W(3)}, dict(group=3, pads=[1, 1, 1, 1]))
    case("conv_5x3_valid", "Conv", img(), {"w": W(3, 3, 5, 3), "b": W(3)}, dict(strides=[1, 2]))
    # Matrix products.
    case("gemm_transA", "Gemm", {"x": X(5, 1)}, {"w": W(5, 4), "c": W(4)}, dict(transA=1))
    case("gemm_row_bias", "Gemm", {"x": X(2, 5)}, {"w": W(5, 4), "c": W(1, 4)}, dict(beta=0.5))
    case("gemm_two_activations", "Gemm", {"x": X(3, 5), "w": X(4, 5)}, {"c": W(4)}, dict(transB=1))
    case("matmul_batched_const", "MatMul", {"x": X(2, 3, 4)}, {"w": W(4, 5)})
    case("matmul_two_activations_4d", "MatMul", {"x": X(1, 2, 3, 4), "w": X(1, 2, 4, 5)})
    case("matmul_two_activations_2d", "MatMul", {"x": X(3, 4), "w": X(4, 5)})
    case("matmul_const_left", "MatMul", {"w": X(4, 5)}, {"a": W(3, 4)}, extra_nodes=[
        helper.make_node("MatMul", ["a", "w"], ["y0"], name="mm")])
    # Normalisation and reductions.
    case("softmax_axis1", "Softmax", {"x": X(2, 3, 4, lo=-3, hi=3)}, attrs=dict(axis=1))
    case("softmax_opset11_axis1", "Softmax", {"x": X(2, 3, 4, lo=-3, hi=3)}, attrs=dict(axis=1), opset=11)
    case("layernorm_two_axes", "LayerNormalization", {"x": X(2, 3, 4, lo=-2, hi=2)},
         {"s": rng.uniform(0.5, 1.5, (3, 4)).astype(np.float32), "b": W(3, 4, s=0.1)}, dict(axis=-2))
    case("batchnorm_alone", "BatchNormalization", {"x": X(1, 3, 4, 4)},
         {"g": rng.uniform(0.5, 1.5, 3).astype(np.float32), "b": W(3), "m": W(3, s=0.2),
          "v": rng.uniform(0.5, 2, 3).astype(np.float32)})
    case("reduce_mean_axes02", "ReduceMean", {"x": X(2, 3, 4)}, attrs=dict(axes=[0, 2], keepdims=0))
    case("reduce_mean_last_keep", "ReduceMean", {"x": X(2, 3, 4)}, attrs=dict(axes=[-1], keepdims=1))
    case("reduce_mean_opset18", "ReduceMean", {"x": X(2, 3, 4)}, {"axes": I([1])}, dict(keepdims=1), opset=18)
    # Pooling.
    case("maxpool_3_stride2", "MaxPool", img(), attrs=dict(kernel_shape=[3, 3], strides=[2, 2]))
    case("averagepool_2_stride1", "AveragePool", img(), attrs=dict(kernel_shape=[2, 2]))
    case("global_average_pool", "GlobalAveragePool", img())
    case("global_max_pool", "GlobalMaxPool", img())
    # Element-wise.
    case("add_broadcast_const", "Add", {"x": X(2, 3, 4)}, {"c": W(4)})
    case("sub_const_first", "Sub", {"x": X(2, 3)}, {"c": W(2, 3)}, extra_nodes=[
        helper.make_node("Sub", ["c", "x"], ["y0"], name="sub")])
    case("mul_two_activations", "Mul", {"x": X(2, 3), "z": X(1, 3)})
    case("div_by_integer", "Div", {"x": X(2, 3, lo=-4, hi=4)}, {"c": np.array(3.0, dtype=np.float32)})
    case("div_by_fraction", "Div", {"x": X(2, 3)}, {"c": np.array(0.3, dtype=np.float32)})
    case("neg", "Neg", {"x": X(2, 3)})
    case("relu", "Relu", {"x": X(2, 3)})
    case("clip_min0", "Clip", {"x": X(2, 3)}, {"lo": np.array(0.0, dtype=np.float32)})
    case("clip_both", "Clip", {"x": X(3, 4, lo=-2, hi=2)},
         {"lo": np.array(-0.5, dtype=np.float32), "hi": np.array(0.75, dtype=np.float32)})
    case("clip_relu6", "Clip", {"x": X(3, 4, lo=-3, hi=9)},
         {"lo": np.array(0.0, dtype=np.float32), "hi": np.array(6.0, dtype=np.float32)})
    case("clip_max_only", "Clip", {"x": X(3, 4, lo=-2, hi=2)}, {"lo": None, "hi": np.array(0.25, dtype=np.float32)})
    case("sigmoid", "Sigmoid", {"x": X(2, 3, lo=-4, hi=4)})
    case("tanh", "Tanh", {"x": X(2, 3, lo=-2, hi=2)})
    case("erf", "Erf", {"x": X(2, 3, lo=-2, hi=2)})
    case("gelu_opset20", "Gelu", {"x": X(2, 3, lo=-3, hi=3)}, attrs=dict(approximate="tanh"), opset=20)
    case("pow3", "Pow", {"x": X(2, 3, lo=-2, hi=2)}, {"e": np.array(3.0, dtype=np.float32)})
    case("sqrt", "Sqrt", {"x": X(2, 3, lo=0, hi=4)})
    case("exp", "Exp", {"x": X(2, 3, lo=-3, hi=1)})
    # Layout.
    case("transpose_201", "Transpose", {"x": X(2, 3, 4)}, attrs=dict(perm=[2, 0, 1]))
    case("concat_const", "Concat", {"x": X(2, 3)}, {"c": W(2, 2)}, dict(axis=1))
    case("slice_negative", "Slice", {"x": X(3, 6)}, {"s": I([-5, 1]), "e": I([-1, 100]), "a": I([1, 0])})
    case("split_equal", "Split", {"x": X(2, 6)}, attrs=dict(axis=1), n_out=3)
    case("gather_scalar", "Gather", {"x": X(3, 4)}, {"i": I(2)}, dict(axis=1))
    case("gather_negative_list", "Gather", {"x": X(3, 4)}, {"i": I([-1, 0])}, dict(axis=0))
    case("pad_asymmetric", "Pad", {"x": X(2, 3)}, {"p": I([1, 0, 0, 2])})
    case("expand", "Expand", {"x": X(3, 1)}, {"s": I([2, 3, 4])})
    case("flatten_axis2", "Flatten", {"x": X(2, 3, 2, 2)}, attrs=dict(axis=2))
    case("reshape_minus_one_zero", "Reshape", {"x": X(2, 3, 4)}, {"s": I([0, -1])})
    case("unsqueeze_squeeze", "Unsqueeze", {"x": X(2, 3)}, {"a": I([0, 3])})
    print(f"wrote {len(os.listdir(OUT)) // 2} cases to {OUT}")


if __name__ == "__main__":
    main()
