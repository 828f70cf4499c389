#!/usr/bin/env python3
"""Write dzk's softmax-head test models in zkml's msgpack format (no training, deterministic weights).

A classifier head as zkml's converter writes one (a MobileNet's last layers, cut down):

    features [1,16] -> FullyConnected 16->10 (+ bias) -> Softmax -> probabilities [1,10]

at two scales. Softmax's exponential is a lookup of round(e^x * sf^2) over x <= 0, so its table has about
sf * ln(2 sf^2) runs: at sf = 2^17 about 1.7 million, more than 2^20 rows, which alone would set a chunk's k to
21 for a layer of a few hundred rows. dzk spreads such a table over groups of table columns so that the chunk
fits the bound `partition --max-k` sets.

- `models/softmax_head_sf17.msgpack`: scale 2^17, zkml k 20 (the case a user hit: k = 21 before table groups).
- `models/softmax_head_sf12.msgpack`: scale 2^12, zkml k 15: the same head with a table of about 70,000 runs,
  small enough to prove in CI at a k that still needs several groups.
- `inputs/softmax_head_sf17.msgpack`, `inputs/softmax_head_sf12.msgpack`: one fixed input each (tensor 0).

Run from the repository root:  python3 testdata/scripts/make_softmax_head.py   (needs: pip install msgpack)
"""

import math
import os
import random

import msgpack

IN, OUT = 16, 10
SEED = 20261205
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make(sf_bits, k):
    sf = 1 << sf_bits
    rng = random.Random(SEED + sf_bits)
    r = int(sf / math.sqrt(IN))
    w = [rng.randint(-r, r) for _ in range(OUT * IN)]
    b = [rng.randint(-sf // 8, sf // 8) for _ in range(OUT)]
    tensors = [
        {"idx": 1, "shape": [OUT, IN], "data": w},
        {"idx": 2, "shape": [OUT], "data": b},
    ]
    layers = [
        {
            "layer_type": "FullyConnected",
            "params": [0],
            "inp_idxes": [0, 1, 2],
            "inp_shapes": [[1, IN], [OUT, IN], [OUT]],
            "out_idxes": [3],
            "out_shapes": [[1, OUT]],
            "mask": [],
        },
        {
            "layer_type": "Softmax",
            "params": [],
            "inp_idxes": [3],
            "inp_shapes": [[1, OUT]],
            "out_idxes": [4],
            "out_shapes": [[1, OUT]],
            "mask": [],
        },
    ]
    model = {
        "global_sf": sf,
        "k": k,
        "num_cols": 10,
        "inp_idxes": [0],
        "out_idxes": [4],
        "tensors": tensors,
        "layers": layers,
    }
    # Features of a few units each, as after a network's global pooling.
    inp = [{"idx": 0, "shape": [1, IN], "data": [rng.randint(-2 * sf, 2 * sf) for _ in range(IN)]}]
    name = f"softmax_head_sf{sf_bits}.msgpack"
    os.makedirs(os.path.join(ROOT, "models"), exist_ok=True)
    os.makedirs(os.path.join(ROOT, "inputs"), exist_ok=True)
    with open(os.path.join(ROOT, "models", name), "wb") as f:
        f.write(msgpack.packb(model, use_bin_type=True))
    with open(os.path.join(ROOT, "inputs", name), "wb") as f:
        f.write(msgpack.packb(inp, use_bin_type=True))
    print(f"{name}: scale 2^{sf_bits}, zkml k {k}, {len(w) + len(b)} constant values")


def main():
    make(17, 20)
    make(12, 15)


if __name__ == "__main__":
    main()
