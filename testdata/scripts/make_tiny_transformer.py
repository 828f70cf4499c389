#!/usr/bin/env python3
"""Write dzk's tiny transformer test model in zkml's msgpack format (no training, deterministic weights).

One pre-norm transformer block over T=4 tokens of width D=8, written the way zkml's converter writes GPT-2
and CLIP, so that it exercises the same layer forms at a size CI can prove:

    x [1,4,8] -> layer norm (Mean, SquaredDifference, Mean, Add eps, Rsqrt, Mul, Mul, Mul, Sub, Add)
      head 0, GPT-2 style: Q, K, V = FullyConnected(ln, W)      (constant weights)
                           S = FullyConnected(Q, K)             (Q·Kᵀ: the weight operand is an activation)
                           S·scale -> MaskNegInf (causal) -> Softmax (causal mask)
                           O = FullyConnected(A, Transpose(V))  (A·V: the weight operand is an activation)
      head 1, CLIP style:  S = BatchMatMul(Q, K, adj_y) -> ·scale -> Softmax -> O = BatchMatMul(A, V)
      Concatenation -> FullyConnected (projection) -> Add (residual)
      -> layer norm -> FullyConnected 8->16 -> GELU with tanh as GPT-2 writes it (x³, Mul, Add, Mul, Tanh, Add,
         Mul, Mul; x³ as two activation products instead of zkml's Pow table, which alone would need k = 15)
      -> FullyConnected 16->8 -> Add (residual)

Weights are uniform integers from a seeded generator, in [-r, r] with r = SF / sqrt(fan_in); layer-norm scales
are near 1. `inputs/tiny_transformer.msgpack` is a fixed input (tensor 0).

Run from the repository root:  python3 testdata/scripts/make_tiny_transformer.py   (needs: pip install msgpack)
"""

import math
import os
import random

import msgpack

SF = 256
K = 14  # zkml's k: sets min_val/max_val, which bound the function tables' domains
T, D, H = 4, 8, 2
DH = D // H
MLP = 16
SEED = 20261205
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

rng = random.Random(SEED)
tensors = []  # constants: {idx, shape, data}
layers = []
next_idx = [1]  # tensor 0 is the input


def fresh():
    i = next_idx[0]
    next_idx[0] += 1
    return i


def const(shape, data):
    i = fresh()
    n = 1
    for s in shape:
        n *= s
    assert len(data) == n, (shape, len(data))
    tensors.append({"idx": i, "shape": list(shape), "data": [int(v) for v in data]})
    return i


def rand_const(shape, fan_in):
    r = max(1, int(SF / math.sqrt(fan_in)))
    n = 1
    for s in shape:
        n *= s
    return const(shape, [rng.randint(-r, r) for _ in range(n)])


def layer(kind, params, inputs, in_shapes, out_shapes, mask=None):
    outs = [fresh() for _ in out_shapes]
    layers.append({
        "layer_type": kind,
        "params": list(params),
        "inp_idxes": list(inputs),
        "inp_shapes": [list(s) for s in in_shapes],
        "out_idxes": outs,
        "out_shapes": [list(s) for s in out_shapes],
        "mask": list(mask or []),
    })
    return outs[0] if len(outs) == 1 else outs


def fc(x, x_shape, out, bias=True, w=None, w_shape=None):
    """FullyConnected of x [.., n, m] by W [out, m] (a fresh constant unless w is given) plus a bias."""
    n, m = x_shape[-2], x_shape[-1]
    if w is None:
        w, w_shape = rand_const([out, m], m), [out, m]
    b = const([out], [rng.randint(-SF // 8, SF // 8) for _ in range(out)] if bias else [0] * out)
    return layer("FullyConnected", [0], [x, w, b], [x_shape, w_shape, [out]], [[n, out]])


def layer_norm(x):
    shape = [1, T, D]
    axes = const([1], [2])
    mu = layer("Mean", [2], [x, axes], [shape, [1]], [[1, T, 1]])
    sd = layer("SquaredDifference", [], [x, mu], [shape, [1, T, 1]], [shape])
    var = layer("Mean", [2], [sd, axes], [shape, [1]], [[1, T, 1]])
    eps = const([], [1])
    ve = layer("Add", [0], [var, eps], [[1, T, 1], []], [[1, T, 1]])
    r = layer("Rsqrt", [], [ve], [[1, T, 1]], [[1, T, 1]])
    gamma = const([D], [SF + rng.randint(-SF // 8, SF // 8) for _ in range(D)])
    beta = const([D], [rng.randint(-SF // 8, SF // 8) for _ in range(D)])
    rg = layer("Mul", [], [r, gamma], [[1, T, 1], [D]], [shape])
    a = layer("Mul", [], [x, rg], [shape, shape], [shape])
    b = layer("Mul", [], [mu, rg], [[1, T, 1], shape], [shape])
    c = layer("Sub", [], [beta, b], [[D], shape], [shape])
    return layer("Add", [0], [a, c], [shape, shape], [shape])


def causal(ndim_shape):
    """zkml's mask params: [ndim, shape.., mask..], 1 where a token would see a later one."""
    vals = [1 if j > i else 0 for i in range(T) for j in range(T)]
    return [len(ndim_shape)] + list(ndim_shape) + vals


def main():
    x = 0
    ln = layer_norm(x)
    scale = const([], [round(SF / math.sqrt(DH))])

    # Head 0, as zkml writes GPT-2: Q·Kᵀ and A·V are FullyConnected layers whose weights are activations.
    q0, k0, v0 = (fc(ln, [1, T, D], DH) for _ in range(3))
    s0 = fc(q0, [T, DH], T, bias=False, w=k0, w_shape=[T, DH])
    s0 = layer("Mul", [], [s0, scale], [[T, T], []], [[T, T]])
    s0 = layer("MaskNegInf", causal([T, T]), [s0], [[T, T]], [[T, T]])
    a0 = layer("Softmax", causal([T, T]), [s0], [[T, T]], [[T, T]])
    v0t = layer("Transpose", [T, DH, 1, 0], [v0], [[T, DH]], [[DH, T]])
    o0 = fc(a0, [T, T], DH, bias=False, w=v0t, w_shape=[DH, T])

    # Head 1, as zkml writes CLIP: BatchMatMul of two activations.
    q1, k1, v1 = (
        layer("Reshape", [], [fc(ln, [1, T, D], DH)], [[T, DH]], [[1, T, DH]]) for _ in range(3)
    )
    s1 = layer("BatchMatMul", [0, 1], [q1, k1], [[1, T, DH], [1, T, DH]], [[1, T, T]])
    s1 = layer("Mul", [], [s1, scale], [[1, T, T], []], [[1, T, T]])
    a1 = layer("Softmax", [], [s1], [[1, T, T]], [[1, T, T]])
    o1 = layer("BatchMatMul", [0, 0], [a1, v1], [[1, T, T], [1, T, DH]], [[1, T, DH]])
    o1 = layer("Reshape", [], [o1], [[1, T, DH]], [[T, DH]])

    heads = layer("Concatenation", [1], [o0, o1], [[T, DH], [T, DH]], [[T, D]])
    proj = fc(heads, [T, D], D)
    proj = layer("Reshape", [], [proj], [[T, D]], [[1, T, D]])
    h = layer("Add", [0], [x, proj], [[1, T, D], [1, T, D]], [[1, T, D]])

    # MLP with GELU as GPT-2's converter writes it: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    ln2 = layer_norm(h)
    m1 = fc(ln2, [1, T, D], MLP)
    m1 = layer("Reshape", [], [m1], [[T, MLP]], [[1, T, MLP]])
    s = [1, T, MLP]
    # x³ as two products of activations: zkml's Pow table (x³ over the whole 26-bit range) alone would set k = 15.
    p2 = layer("Mul", [], [m1, m1], [s, s], [s])
    p3 = layer("Mul", [], [p2, m1], [s, s], [s])
    t1 = layer("Mul", [], [const([], [round(0.044715 * SF)]), p3], [[], s], [s])
    t2 = layer("Add", [0], [m1, t1], [s, s], [s])
    t3 = layer("Mul", [], [const([], [round(math.sqrt(2 / math.pi) * SF)]), t2], [[], s], [s])
    t4 = layer("Tanh", [], [t3], [s], [s])
    t5 = layer("Add", [0], [const([], [SF]), t4], [[], s], [s])
    t6 = layer("Mul", [], [const([], [SF // 2]), t5], [[], s], [s])
    g = layer("Mul", [], [m1, t6], [s, s], [s])
    m2 = fc(g, [1, T, MLP], D)
    m2 = layer("Reshape", [], [m2], [[T, D]], [[1, T, D]])
    out = layer("Add", [0], [h, m2], [[1, T, D], [1, T, D]], [[1, T, D]])

    model = {
        "global_sf": SF,
        "k": K,
        "num_cols": 10,
        "inp_idxes": [0],
        "out_idxes": [out],
        "tensors": tensors,
        "layers": layers,
    }
    inp = [{"idx": 0, "shape": [1, T, D], "data": [rng.randint(-2 * SF, 2 * SF) for _ in range(T * D)]}]
    os.makedirs(os.path.join(ROOT, "models"), exist_ok=True)
    os.makedirs(os.path.join(ROOT, "inputs"), exist_ok=True)
    with open(os.path.join(ROOT, "models", "tiny_transformer.msgpack"), "wb") as f:
        f.write(msgpack.packb(model, use_bin_type=True))
    with open(os.path.join(ROOT, "inputs", "tiny_transformer.msgpack"), "wb") as f:
        f.write(msgpack.packb(inp, use_bin_type=True))
    print(f"{len(layers)} layers, {sum(len(t['data']) for t in tensors)} constant values")


if __name__ == "__main__":
    main()
