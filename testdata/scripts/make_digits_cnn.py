#!/usr/bin/env python3
"""Train dzk's shipped test model and export it in zkml's msgpack format.

A small CNN on the 8x8 digits data set that scikit-learn ships (no download):

    input [1,8,8,1] -> Conv2D 3x3 VALID, 6 filters, ReLU6 -> AveragePool2D 2x2/2
      -> Reshape [1,54] -> FullyConnected 54->24, ReLU -> FullyConnected 24->10 (logits)

It is trained in float with numpy (hand-written backprop, Adam, fixed seed), quantized at scale factor
SF, and evaluated on the held-out split with an *independent* integer implementation of zkml's fixed-point
semantics (below), which also writes the expected outputs that dzk's tests compare against.

Run from the repository root:  python3 testdata/scripts/make_digits_cnn.py
Needs: numpy, scikit-learn, msgpack (pip install numpy scikit-learn msgpack).
"""

import json
import os

import msgpack
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SF = 512
SEED = 20261124
N_INPUTS = 8
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def patches(x):
    """x: [N,8,8] -> [N,36,9] 3x3 VALID patches, row-major over output positions."""
    n = x.shape[0]
    out = np.empty((n, 36, 9), dtype=x.dtype)
    for i in range(6):
        for j in range(6):
            out[:, i * 6 + j, :] = x[:, i:i + 3, j:j + 3].reshape(n, 9)
    return out


def train(xtr, ytr, epochs=80, lr=3e-3, batch=64):
    rng = np.random.default_rng(SEED)
    params = {
        "wc": rng.normal(0, 0.4, (9, 6)), "bc": np.zeros(6),
        "w1": rng.normal(0, 0.2, (54, 24)), "b1": np.zeros(24),
        "w2": rng.normal(0, 0.2, (24, 10)), "b2": np.zeros(10),
    }
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    step = 0
    p_all = patches(xtr)
    for _ in range(epochs):
        order = rng.permutation(len(xtr))
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            p, y = p_all[idx], ytr[idx]
            n = len(idx)
            # forward
            c = p @ params["wc"] + params["bc"]              # [n,36,6]
            r = np.clip(c, 0, 6)
            g = r.reshape(n, 3, 2, 3, 2, 6).mean(axis=(2, 4))  # [n,3,3,6]
            f = g.reshape(n, 54)                              # (h, w, c) order, as NHWC
            h1 = f @ params["w1"] + params["b1"]
            a1 = np.maximum(h1, 0)
            z = a1 @ params["w2"] + params["b2"]
            z = z - z.max(axis=1, keepdims=True)
            prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            # backward
            dz = prob.copy()
            dz[np.arange(n), y] -= 1
            dz /= n
            grads = {"w2": a1.T @ dz, "b2": dz.sum(0)}
            da1 = dz @ params["w2"].T
            dh1 = da1 * (h1 > 0)
            grads["w1"] = f.T @ dh1
            grads["b1"] = dh1.sum(0)
            dg = (dh1 @ params["w1"].T).reshape(n, 3, 1, 3, 1, 6) / 4.0
            dr = np.broadcast_to(dg, (n, 3, 2, 3, 2, 6)).reshape(n, 36, 6)
            dc = dr * ((c > 0) & (c < 6))
            grads["wc"] = np.einsum("npk,npo->ko", p, dc)
            grads["bc"] = dc.sum(axis=(0, 1))
            step += 1
            for k in params:
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
                mh = m[k] / (1 - 0.9 ** step)
                vh = v[k] / (1 - 0.999 ** step)
                params[k] -= lr * mh / (np.sqrt(vh) + 1e-8)
    return params


def q(a):
    return np.round(np.asarray(a) * SF).astype(np.int64)


def div_round(a, b):
    """zkml's round-half-up division floor((2a + b) / (2b)), on Python ints (exact)."""
    return (2 * a + b) // (2 * b)


def fixed_forward(xq, t):
    """Independent integer reference of zkml's semantics for this network. xq: [8,8] ints."""
    x = [[int(v) for v in row] for row in xq]
    wc, bc, w1, b1, w2, b2 = (t[k] for k in ("wc", "bc", "w1", "b1", "w2", "b2"))
    conv = [[[0] * 6 for _ in range(6)] for _ in range(6)]
    for i in range(6):
        for j in range(6):
            for o in range(6):
                acc = sum(x[i + di][j + dj] * int(wc[o][di][dj][0]) for di in range(3) for dj in range(3))
                d = div_round(acc, SF) + int(bc[o])
                conv[i][j][o] = min(max(d, 0), 6 * SF)
    pooled = []
    for i in range(3):
        for j in range(3):
            for o in range(6):
                s = sum(conv[2 * i + di][2 * j + dj][o] for di in range(2) for dj in range(2))
                pooled.append(div_round(s, 4))
    h = [max(div_round(sum(pooled[k] * int(w1[u][k]) for k in range(54)), SF) + int(b1[u]), 0) for u in range(24)]
    return [div_round(sum(h[k] * int(w2[u][k]) for k in range(24)), SF) + int(b2[u]) for u in range(10)]


def tensor(idx, arr):
    arr = np.asarray(arr, dtype=np.int64)
    return {"idx": idx, "shape": list(arr.shape), "data": [int(v) for v in arr.reshape(-1)]}


def main():
    digits = load_digits()
    x = digits.images / 16.0
    y = digits.target
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    params = train(xtr, ytr)

    # Quantize. Conv weights OHWI [6,3,3,1]; FC weights [out, in] as zkml's converter writes them.
    t = {
        "wc": q(params["wc"].T.reshape(6, 3, 3, 1)), "bc": q(params["bc"]),
        "w1": q(params["w1"].T), "b1": q(params["b1"]),
        "w2": q(params["w2"].T), "b2": q(params["b2"]),
    }
    xq_te = q(xte)
    preds = [int(np.argmax(fixed_forward(xi, t))) for xi in xq_te]
    acc_fixed = float(np.mean(np.array(preds) == yte))

    # Float accuracy, for comparison.
    p = patches(xte)
    c = np.clip(p @ params["wc"] + params["bc"], 0, 6).reshape(len(xte), 3, 2, 3, 2, 6).mean(axis=(2, 4))
    z = np.maximum(c.reshape(len(xte), 54) @ params["w1"] + params["b1"], 0) @ params["w2"] + params["b2"]
    acc_float = float(np.mean(np.argmax(z, 1) == yte))

    model = {
        "global_sf": SF, "k": 17, "num_cols": 10,
        "inp_idxes": [0], "out_idxes": [12],
        "tensors": [tensor(1, t["wc"]), tensor(2, t["bc"]), tensor(3, t["w1"]), tensor(4, t["b1"]),
                    tensor(5, t["w2"]), tensor(6, t["b2"]), tensor(7, [1, 54])],
        "layers": [
            {"layer_type": "Conv2D", "params": [0, 1, 3, 1, 1], "inp_idxes": [0, 1, 2],
             "inp_shapes": [[1, 8, 8, 1], [6, 3, 3, 1], [6]], "out_idxes": [8], "out_shapes": [[1, 6, 6, 6]], "mask": []},
            {"layer_type": "AveragePool2D", "params": [2, 2, 2, 2], "inp_idxes": [8], "inp_shapes": [[1, 6, 6, 6]],
             "out_idxes": [9], "out_shapes": [[1, 3, 3, 6]], "mask": []},
            {"layer_type": "Reshape", "params": [], "inp_idxes": [9, 7], "inp_shapes": [[1, 3, 3, 6], [2]],
             "out_idxes": [10], "out_shapes": [[1, 54]], "mask": []},
            {"layer_type": "FullyConnected", "params": [1], "inp_idxes": [10, 3, 4],
             "inp_shapes": [[1, 54], [24, 54], [24]], "out_idxes": [11], "out_shapes": [[1, 24]], "mask": []},
            {"layer_type": "FullyConnected", "params": [0], "inp_idxes": [11, 5, 6],
             "inp_shapes": [[1, 24], [10, 24], [10]], "out_idxes": [12], "out_shapes": [[1, 10]], "mask": []},
        ],
        "use_selectors": True, "commit_before": [], "commit_after": [],
    }
    with open(os.path.join(ROOT, "models", "digits_cnn.msgpack"), "wb") as f:
        f.write(msgpack.packb(model, use_bin_type=True))

    expected = []
    for i in range(N_INPUTS):
        name = f"digits_{i}.msgpack"
        with open(os.path.join(ROOT, "inputs", name), "wb") as f:
            f.write(msgpack.packb([tensor(0, xq_te[i].reshape(1, 8, 8, 1))], use_bin_type=True))
        logits = fixed_forward(xq_te[i], t)
        expected.append({"input": f"inputs/{name}", "label": int(yte[i]), "logits": logits,
                         "argmax": int(np.argmax(logits))})
    summary = {
        "model": "models/digits_cnn.msgpack", "scale_factor": SF, "seed": SEED,
        "held_out_samples": int(len(yte)), "accuracy_fixed_point": acc_fixed, "accuracy_float": acc_float,
        "expected": expected,
    }
    with open(os.path.join(ROOT, "models", "digits_cnn.expected.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(f"held-out accuracy: fixed-point {acc_fixed:.4f}, float {acc_float:.4f} on {len(yte)} samples")


if __name__ == "__main__":
    main()
