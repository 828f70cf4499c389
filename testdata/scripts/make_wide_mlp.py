#!/usr/bin/env python3
"""Write dzk's wide-MLP test model in zkml's msgpack format (no training, deterministic weights).

A small network with one layer much wider than the rest and a skip connection, so that under a tight
`partition --max-k` the wide layer must be split across chunks by output channels:

    x [1,16] -> FullyConnected 16->WIDE (+ bias, ReLU) -> h -> FullyConnected WIDE->10 (+ bias) -> y1
    x        -> FullyConnected 16->10 (+ bias)                                                   -> y2
    y1 + y2 -> out [1,10]

The model input `x` is read before and after the wide layer, so a split plan has several chunks reading the
model's inputs and a chunk (the one after the parts) that reads the parts' outputs and the input together.

- `models/wide_mlp.msgpack`, `inputs/wide_mlp.msgpack` (tensor 0).

Run from the repository root:  python3 testdata/scripts/make_wide_mlp.py   (needs: pip install msgpack)
"""

import os
import random

import msgpack

IN, WIDE, OUT = 256, 256, 10
SF_BITS = 8
SEED = 20261206
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def fc(inp, w, b, out, n_in, n_out, act):
    return {
        "layer_type": "FullyConnected",
        "params": [act],
        "inp_idxes": [inp, w, b],
        "inp_shapes": [[1, n_in], [n_out, n_in], [n_out]],
        "out_idxes": [out],
        "out_shapes": [[1, n_out]],
        "mask": [],
    }


def main():
    sf = 1 << SF_BITS
    rng = random.Random(SEED)

    def weights(n_out, n_in):
        r = max(1, int(sf / (n_in ** 0.5)))
        return [rng.randint(-r, r) for _ in range(n_out * n_in)]

    def bias(n):
        return [rng.randint(-sf // 4, sf // 4) for _ in range(n)]

    tensors = [
        {"idx": 1, "shape": [WIDE, IN], "data": weights(WIDE, IN)},
        {"idx": 2, "shape": [WIDE], "data": bias(WIDE)},
        {"idx": 3, "shape": [OUT, WIDE], "data": weights(OUT, WIDE)},
        {"idx": 4, "shape": [OUT], "data": bias(OUT)},
        {"idx": 5, "shape": [OUT, IN], "data": weights(OUT, IN)},
        {"idx": 6, "shape": [OUT], "data": bias(OUT)},
    ]
    layers = [
        fc(0, 1, 2, 10, IN, WIDE, 1),
        fc(10, 3, 4, 11, WIDE, OUT, 0),
        fc(0, 5, 6, 12, IN, OUT, 0),
        {
            "layer_type": "Add",
            "params": [0],
            "inp_idxes": [11, 12],
            "inp_shapes": [[1, OUT], [1, OUT]],
            "out_idxes": [13],
            "out_shapes": [[1, OUT]],
            "mask": [],
        },
    ]
    model = {
        "global_sf": sf,
        "k": 12,
        "num_cols": 10,
        "inp_idxes": [0],
        "out_idxes": [13],
        "tensors": tensors,
        "layers": layers,
    }
    inp = [{"idx": 0, "shape": [1, IN], "data": [rng.randint(-2 * sf, 2 * sf) for _ in range(IN)]}]
    name = "wide_mlp.msgpack"
    with open(os.path.join(ROOT, "models", name), "wb") as f:
        f.write(msgpack.packb(model, use_bin_type=True))
    with open(os.path.join(ROOT, "inputs", name), "wb") as f:
        f.write(msgpack.packb(inp, use_bin_type=True))


if __name__ == "__main__":
    main()
