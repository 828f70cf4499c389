#!/usr/bin/env python3
"""Make the ONNX models of testdata/onnx/ and their reference outputs from onnxruntime.

Four models, built with the `onnx` helper API (no torch needed) and written as .onnx files that CI reads
without any of these packages:

- digits_mlp.onnx: 64 -> 32 (ReLU) -> 10, Gemm with transB = 1 as torch exports Linear; trained with numpy
  (hand-written backprop, Adam, fixed seed) on scikit-learn's 8x8 digits.
- digits_cnn.onnx: NCHW [1,1,8,8] -> Conv 3x3 pad 1 (6) -> BatchNormalization -> Relu -> MaxPool 2x2
  -> Conv 3x3 (8) -> Relu -> GlobalAveragePool -> Flatten -> Gemm 8 -> 10; the convolutions and the head are
  trained with numpy on the same digits. The BatchNormalization carries the first convolution's measured
  statistics with that convolution's weights rescaled per channel, so it is not an identity and import must
  fold it.
- tiny_transformer.onnx: one pre-norm transformer block on [1, 4, 8] with 2 heads, as torch exports it at
  opset 17: LayerNormalization, Q/K/V MatMul + Add, Reshape/Transpose into heads, MatMul of two activations
  (Q.K^T and A.V), Div by sqrt(d), Softmax, the output projection, residual Adds, and an MLP with GELU as
  Div -> Erf -> Add -> Mul -> Mul. Weights are random (fixed seed).
- ops_zoo.onnx: every other supported operator once on [1, 3, 8, 8] (random weights, fixed seed): see
  zoo_model().
- hostile/: files import must refuse (old opset, unsupported operator, open dimension, absurd size).

For each model, onnxruntime's outputs on committed inputs go to <name>.expected.json, and the inputs to
<name>.samples.json (a list of samples, as `dzk import --calibrate` reads) and <name>.input.json (the first
sample, as `dzk import-input` reads).

Run from the repository root:  python3 testdata/scripts/make_onnx_models.py
Needs: numpy, scikit-learn, onnx, onnxruntime (pip install numpy scikit-learn onnx onnxruntime).
"""

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 20261206
OPSET = 17
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "onnx")


def adam(params, grads, state, lr):
    state["t"] += 1
    t = state["t"]
    for k in params:
        m = state.setdefault("m" + k, np.zeros_like(params[k]))
        v = state.setdefault("v" + k, np.zeros_like(params[k]))
        m[:] = 0.9 * m + 0.1 * grads[k]
        v[:] = 0.999 * v + 0.001 * grads[k] ** 2
        params[k] -= lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)


def softmax_grad(z, y):
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return p / len(y)


def train_mlp(x, y, epochs=60, batch=64):
    rng = np.random.default_rng(SEED)
    P = {"w1": rng.normal(0, 0.15, (32, 64)), "b1": np.zeros(32),
         "w2": rng.normal(0, 0.2, (10, 32)), "b2": np.zeros(10)}
    st = {"t": 0}
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), batch):
            i = order[s:s + batch]
            xb, yb = x[i], y[i]
            h = xb @ P["w1"].T + P["b1"]
            a = np.maximum(h, 0)
            z = a @ P["w2"].T + P["b2"]
            dz = softmax_grad(z, yb)
            da = dz @ P["w2"]
            dh = da * (h > 0)
            g = {"w2": dz.T @ a, "b2": dz.sum(0), "w1": dh.T @ xb, "b1": dh.sum(0)}
            adam(P, g, st, 3e-3)
    return P


def im2col(x, pad):
    """x [n,C,H,W] -> [n, OH*OW, C*9] patches of 3x3 windows, (C, dy, dx) order as ONNX weights [OC,C,3,3]."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
    cols = np.empty((n, oh, ow, c, 3, 3))
    for dy in range(3):
        for dx in range(3):
            cols[:, :, :, :, dy, dx] = xp[:, :, dy:dy + oh, dx:dx + ow].transpose(0, 2, 3, 1)
    return cols.reshape(n, oh * ow, c * 9), (oh, ow)


def col2im(dcols, shape, pad):
    n, c, h, w = shape
    oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    d = dcols.reshape(n, oh, ow, c, 3, 3)
    for dy in range(3):
        for dx in range(3):
            dxp[:, :, dy:dy + oh, dx:dx + ow] += d[:, :, :, :, dy, dx].transpose(0, 3, 1, 2)
    return dxp[:, :, pad:pad + h, pad:pad + w]


def cnn_forward(P, x):
    n = len(x)
    p1, (h1, w1) = im2col(x, 1)
    c1 = (p1 @ P["k1"].reshape(6, 9).T + P["c1"]).reshape(n, h1, w1, 6).transpose(0, 3, 1, 2)
    a1 = np.maximum(c1, 0)
    r = a1.reshape(n, 6, 4, 2, 4, 2)
    m1 = r.max(axis=(3, 5))
    p2, (h2, w2) = im2col(m1, 0)
    c2 = (p2 @ P["k2"].reshape(8, 54).T + P["c2"]).reshape(n, h2, w2, 8).transpose(0, 3, 1, 2)
    a2 = np.maximum(c2, 0)
    g = a2.mean(axis=(2, 3))
    z = g @ P["w"].T + P["b"]
    return z, (p1, c1, a1, r, m1, p2, c2, a2, g)


def train_cnn(x, y, epochs=40, batch=32):
    rng = np.random.default_rng(SEED + 1)
    P = {"k1": rng.normal(0, 0.4, (6, 1, 3, 3)), "c1": np.zeros(6),
         "k2": rng.normal(0, 0.15, (8, 6, 3, 3)), "c2": np.zeros(8),
         "w": rng.normal(0, 0.3, (10, 8)), "b": np.zeros(10)}
    st = {"t": 0}
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), batch):
            i = order[s:s + batch]
            xb, yb = x[i], y[i]
            n = len(i)
            z, (p1, c1, a1, r, m1, p2, c2, a2, g) = cnn_forward(P, xb)
            dz = softmax_grad(z, yb)
            G = {"w": dz.T @ g, "b": dz.sum(0)}
            dg = dz @ P["w"]
            da2 = np.broadcast_to(dg[:, :, None, None] / 4.0, a2.shape)
            dc2 = da2 * (c2 > 0)
            dc2f = dc2.transpose(0, 2, 3, 1).reshape(n, -1, 8)
            G["k2"] = np.einsum("npk,npo->ok", p2, dc2f).reshape(8, 6, 3, 3)
            G["c2"] = dc2f.sum(axis=(0, 1))
            dm1 = col2im(dc2f @ P["k2"].reshape(8, 54), m1.shape, 0)
            mask = r == m1[:, :, :, None, :, None]
            da1 = (mask * dm1[:, :, :, None, :, None]).reshape(a1.shape)
            dc1 = da1 * (c1 > 0)
            dc1f = dc1.transpose(0, 2, 3, 1).reshape(n, -1, 6)
            G["k1"] = np.einsum("npk,npo->ok", p1, dc1f).reshape(6, 1, 3, 3)
            G["c1"] = dc1f.sum(axis=(0, 1))
            adam(P, G, st, 3e-3)
    return P


def init(name, a):
    return numpy_helper.from_array(np.asarray(a, dtype=np.float32), name)


def save(model, name):
    onnx.checker.check_model(model)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(model, path)
    return path


def mlp_model(P):
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu1"),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["logits"], name="fc2", transB=1),
    ]
    g = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        [init(k, P[k]) for k in ("w1", "b1", "w2", "b2")],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])


def cnn_model(P, x):
    # The BatchNormalization: the first conv's per-channel outputs scaled by t, then normalised back.
    rng = np.random.default_rng(SEED + 2)
    t = rng.uniform(0.5, 2.0, 6)
    _, (p1, c1, *_rest) = cnn_forward(P, x)
    mu, var = c1.mean(axis=(0, 2, 3)), c1.var(axis=(0, 2, 3))
    eps = 1e-5
    k1 = P["k1"] * t[:, None, None, None]
    c1b = P["c1"] * t
    bn = {"gamma": np.sqrt(var + eps), "beta": mu, "mean": mu * t, "var": var * t * t}
    nodes = [
        helper.make_node("Conv", ["x", "k1", "c1"], ["y1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["y1", "gamma", "beta", "mean", "var"], ["n1"], name="bn1",
                         epsilon=eps),
        helper.make_node("Relu", ["n1"], ["a1"], name="relu1"),
        helper.make_node("MaxPool", ["a1"], ["m1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["m1", "k2", "c2"], ["y2"], name="conv2", kernel_shape=[3, 3]),
        helper.make_node("Relu", ["y2"], ["a2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["a2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "w", "b"], ["logits"], name="fc", transB=1),
    ]
    inits = [init("k1", k1), init("c1", c1b), init("k2", P["k2"]), init("c2", P["c2"]),
             init("w", P["w"]), init("b", P["b"])] + [init(k, v) for k, v in bn.items()]
    g = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])


def transformer_model():
    rng = np.random.default_rng(SEED + 3)
    T, D, H, F = 4, 8, 2, 16
    dh = D // H
    w = lambda *s: rng.normal(0, 1 / np.sqrt(s[0]), s)
    b = lambda n: rng.normal(0, 0.05, n)
    inits = {
        "ln1_s": rng.uniform(0.8, 1.2, D), "ln1_b": b(D),
        "wq": w(D, D), "bq": b(D), "wk": w(D, D), "bk": b(D), "wv": w(D, D), "bv": b(D),
        "wo": w(D, D), "bo": b(D),
        "ln2_s": rng.uniform(0.8, 1.2, D), "ln2_b": b(D),
        "w1": w(D, F), "b1": b(F), "w2": w(F, D), "b2": b(D),
        "sqrt_dh": np.array(np.sqrt(dh)), "sqrt2": np.array(np.sqrt(2.0)),
        "one": np.array(1.0), "half": np.array(0.5),
    }
    heads = np.array([1, T, H, dh], dtype=np.int64)
    merged = np.array([1, T, D], dtype=np.int64)
    N = helper.make_node
    nodes = [
        N("LayerNormalization", ["x", "ln1_s", "ln1_b"], ["h1"], name="ln1", axis=-1, epsilon=1e-5),
    ]
    for p in ("q", "k", "v"):
        nodes += [
            N("MatMul", ["h1", "w" + p], [p + "0"], name="proj_" + p),
            N("Add", [p + "0", "b" + p], [p + "1"], name="bias_" + p),
            N("Reshape", [p + "1", "heads"], [p + "2"], name="split_" + p),
        ]
    nodes += [
        N("Transpose", ["q2"], ["qh"], name="qh", perm=[0, 2, 1, 3]),
        N("Transpose", ["k2"], ["kt"], name="kt", perm=[0, 2, 3, 1]),
        N("Transpose", ["v2"], ["vh"], name="vh", perm=[0, 2, 1, 3]),
        N("MatMul", ["qh", "kt"], ["s0"], name="scores"),
        N("Div", ["s0", "sqrt_dh"], ["s1"], name="scale"),
        N("Softmax", ["s1"], ["att"], name="softmax", axis=-1),
        N("MatMul", ["att", "vh"], ["ctx"], name="context"),
        N("Transpose", ["ctx"], ["ctx_t"], name="merge_t", perm=[0, 2, 1, 3]),
        N("Reshape", ["ctx_t", "merged"], ["ctx_m"], name="merge"),
        N("MatMul", ["ctx_m", "wo"], ["o0"], name="proj_o"),
        N("Add", ["o0", "bo"], ["o1"], name="bias_o"),
        N("Add", ["x", "o1"], ["r1"], name="residual1"),
        N("LayerNormalization", ["r1", "ln2_s", "ln2_b"], ["h2"], name="ln2", axis=-1, epsilon=1e-5),
        N("MatMul", ["h2", "w1"], ["f0"], name="fc1"),
        N("Add", ["f0", "b1"], ["f1"], name="fc1_bias"),
        N("Div", ["f1", "sqrt2"], ["g0"], name="gelu_div"),
        N("Erf", ["g0"], ["g1"], name="gelu_erf"),
        N("Add", ["g1", "one"], ["g2"], name="gelu_add"),
        N("Mul", ["f1", "g2"], ["g3"], name="gelu_mul"),
        N("Mul", ["g3", "half"], ["g4"], name="gelu_half"),
        N("MatMul", ["g4", "w2"], ["f2"], name="fc2"),
        N("Add", ["f2", "b2"], ["f3"], name="fc2_bias"),
        N("Add", ["r1", "f3"], ["y"], name="residual2"),
    ]
    tensors = [init(k, v) for k, v in inits.items()]
    tensors += [numpy_helper.from_array(heads, "heads"), numpy_helper.from_array(merged, "merged")]
    g = helper.make_graph(
        nodes, "tiny_transformer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, T, D])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, T, D])],
        tensors,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])


def zoo_model():
    """Every other supported operator once, with random weights: depthwise Conv (multiplier 2, SAME_UPPER) with
    Clip(0, 6), AveragePool with padding, a 1x1 Conv, Sigmoid, GlobalMaxPool; Slice, ReduceMean, Tanh, Pow 2,
    Sqrt, Exp, Pad, Split, Concat, Gather; Neg, Sub, Mul and Div of activations, a standalone Relu, Gemm with alpha,
    beta and an untransposed B, Softmax, Identity."""
    rng = np.random.default_rng(SEED + 5)
    N = helper.make_node
    f = lambda a: np.asarray(a, dtype=np.float32)
    inits = {
        "dw": rng.normal(0, 0.4, (6, 1, 3, 3)), "dwb": rng.normal(0, 0.1, 6),
        "lo": np.array(0.0), "hi": np.array(6.0),
        "pw": rng.normal(0, 0.5, (4, 6, 1, 1)), "pwb": rng.normal(0, 0.1, 4),
        "shift": rng.normal(0, 0.2, (1, 4)),
        "gw": rng.normal(0, 0.3, (31, 5)), "gb": rng.normal(0, 0.1, 5),
    }
    ints = {
        "starts": [0, 2], "ends": [2, 6], "axes": [1, 2],
        "pads": [0, 0, 1, 0, 0, 0, 0, 1], "split": [4, 5], "idx": [0, 2, 4],
    }
    nodes = [
        N("Conv", ["x", "dw", "dwb"], ["d0"], name="depthwise", group=3, kernel_shape=[3, 3], auto_pad="SAME_UPPER"),
        N("Clip", ["d0", "lo", "hi"], ["d1"], name="relu6"),
        N("AveragePool", ["d1"], ["d2"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
          count_include_pad=1),
        N("Conv", ["d2", "pw", "pwb"], ["d3"], name="pointwise", kernel_shape=[1, 1]),
        N("Sigmoid", ["d3"], ["d4"], name="sigmoid"),
        N("GlobalMaxPool", ["d4"], ["d5"], name="gmp"),
        N("Flatten", ["d5"], ["fa"], name="flat_a"),
        N("Slice", ["x", "starts", "ends", "axes"], ["s0"], name="slice"),
        N("ReduceMean", ["s0"], ["s1"], name="mean_c", axes=[1], keepdims=1),
        N("Tanh", ["s1"], ["s2"], name="tanh"),
        N("Pow", ["s2", "two"], ["s3"], name="square"),
        N("Sqrt", ["s3"], ["s4"], name="sqrt"),
        N("Exp", ["s4"], ["s4e"], name="exp"),
        N("Pad", ["s4e", "pads"], ["s5"], name="pad"),
        N("Split", ["s5", "split"], ["sa", "sb"], name="split_w", axis=3),
        N("Concat", ["sb", "sa"], ["s6"], name="swap", axis=3),
        N("Gather", ["s6", "idx"], ["s7"], name="gather", axis=2),
        N("Flatten", ["s7"], ["fb"], name="flat_b"),
        N("Neg", ["fa"], ["c0"], name="neg"),
        N("Sub", ["c0", "shift"], ["c1"], name="sub"),
        N("Relu", ["c1"], ["c2"], name="relu"),
        N("Mul", ["c2", "fa"], ["c3"], name="mul"),
        N("ReduceMean", ["d4"], ["m"], name="mean_all", keepdims=0),
        N("Div", ["c3", "m"], ["c4"], name="div"),
        N("Identity", ["c4"], ["c5"], name="identity"),
        N("Concat", ["fb", "c5"], ["z"], name="join", axis=1),
        N("Gemm", ["z", "gw", "gb"], ["g"], name="gemm", alpha=0.5, beta=2.0),
        N("Softmax", ["g"], ["p"], name="softmax", axis=1),
        N("Concat", ["g", "p"], ["y"], name="out", axis=1),
    ]
    tensors = [init(k, v) for k, v in inits.items()] + [init("two", 2.0)]
    tensors += [numpy_helper.from_array(np.array(v, dtype=np.int64), k) for k, v in ints.items()]
    g = helper.make_graph(
        nodes, "ops_zoo",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        tensors,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])


def reference(name, path, samples, labels=None):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    outs = [sess.run(None, {inp.name: s.astype(np.float32)})[0] for s in samples]
    doc = {
        "model": name + ".onnx",
        "producer": "onnxruntime " + ort.__version__,
        "outputs": [o.reshape(-1).astype(float).round(7).tolist() for o in outs],
    }
    if labels is not None:
        doc["labels"] = [int(v) for v in labels]
        doc["float_accuracy"] = float(np.mean([np.argmax(o) == l for o, l in zip(outs, labels)]))
    with open(os.path.join(OUT, name + ".expected.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    rows = [s.astype(np.float32).astype(float).round(7).tolist() for s in samples]
    with open(os.path.join(OUT, name + ".samples.json"), "w") as f:
        json.dump(rows, f)
        f.write("\n")
    with open(os.path.join(OUT, name + ".input.json"), "w") as f:
        json.dump(rows[0], f)
        f.write("\n")


def hostile():
    """Models that import must refuse with exit 2 and a message (hostile/): each is otherwise a valid file."""
    d = os.path.join(OUT, "hostile")
    os.makedirs(d, exist_ok=True)
    w = init("w", np.ones((4, 4)))

    def graph(nodes, inp_shape, inits, out_shape=(1, 4)):
        return helper.make_graph(
            nodes, "hostile",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(inp_shape))],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
            inits,
        )

    mm = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    # An opset dzk does not follow (operators of opset 5 differ in attributes and inputs).
    onnx.save(helper.make_model(graph(mm, (1, 4), [w]), opset_imports=[helper.make_opsetid("", 5)]),
              os.path.join(d, "old_opset.onnx"))
    # An operator with no lowering.
    leaky = [helper.make_node("LeakyRelu", ["x"], ["y"], name="leaky", alpha=0.1)]
    onnx.save(helper.make_model(graph(leaky, (1, 4), []), opset_imports=[helper.make_opsetid("", OPSET)]),
              os.path.join(d, "unsupported_op.onnx"))
    # A batch dimension left open.
    onnx.save(helper.make_model(graph(mm, ("N", 4), [w], ("N", 4)), opset_imports=[helper.make_opsetid("", OPSET)]),
              os.path.join(d, "dynamic_shape.onnx"))
    # An input of 2^40 values.
    big = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    onnx.save(helper.make_model(graph(big, (1 << 20, 1 << 20), [], (1 << 20, 1 << 20)),
                                opset_imports=[helper.make_opsetid("", OPSET)]),
              os.path.join(d, "absurd_size.onnx"))
    # A LayerNormalization axis below -rank: tract's shape rules loop 2^64 times on it (found by fuzzing).
    ln = [helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], name="ln", axis=-17)]
    onnx.save(helper.make_model(graph(ln, (1, 4), [init("s", np.ones(4)), init("b", np.zeros(4))]),
                                opset_imports=[helper.make_opsetid("", OPSET)]),
              os.path.join(d, "layer_norm_axis.onnx"))
    # A constant of 2^40 values for tract to fold.
    cos = [helper.make_node("ConstantOfShape", ["shape"], ["c"], name="zeros"),
           helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20], dtype=np.int64), "shape")
    onnx.save(helper.make_model(graph(cos, (1, 4), [shape]), opset_imports=[helper.make_opsetid("", OPSET)]),
              os.path.join(d, "constant_of_shape.onnx"))


def main():
    os.makedirs(OUT, exist_ok=True)
    hostile()
    digits = load_digits()
    x = digits.images / 16.0
    y = digits.target
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)

    P = train_mlp(xtr.reshape(-1, 64), ytr)
    acc = np.mean(np.argmax(np.maximum(xte.reshape(-1, 64) @ P["w1"].T + P["b1"], 0) @ P["w2"].T + P["b2"], 1) == yte)
    path = save(mlp_model(P), "digits_mlp")
    reference("digits_mlp", path, [xte[i].reshape(1, 64) for i in range(8)], yte[:8])
    print(f"digits_mlp: float test accuracy {acc:.3f}")

    C = train_cnn(xtr.reshape(-1, 1, 8, 8), ytr)
    z, _ = cnn_forward(C, xte.reshape(-1, 1, 8, 8))
    acc = np.mean(np.argmax(z, 1) == yte)
    path = save(cnn_model(C, xtr.reshape(-1, 1, 8, 8)), "digits_cnn")
    reference("digits_cnn", path, [xte[i].reshape(1, 1, 8, 8) for i in range(8)], yte[:8])
    print(f"digits_cnn: float test accuracy {acc:.3f}")

    path = save(transformer_model(), "tiny_transformer")
    rng = np.random.default_rng(SEED + 4)
    reference("tiny_transformer", path, [rng.normal(0, 1, (1, 4, 8)) for _ in range(4)])
    print("tiny_transformer: written")

    path = save(zoo_model(), "ops_zoo")
    rng = np.random.default_rng(SEED + 6)
    reference("ops_zoo", path, [rng.uniform(-1, 1, (1, 3, 8, 8)) for _ in range(4)])
    print("ops_zoo: written")


if __name__ == "__main__":
    main()
