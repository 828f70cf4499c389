#!/usr/bin/env python3
"""Write dzk's wide-head test model in zkml's msgpack format (no training, deterministic weights).

A language model's last layers in miniature: a narrow layer, then a head far wider than the rest whose output
is the model's output, reshaped the way zkml's converter writes GPT-2's LM head:

    x [4,16] -> FullyConnected 16->16 (+ bias, ReLU) -> h [4,16]
             -> FullyConnected 16->VOCAB (+ bias)      -> logits [4,VOCAB] -> Reshape [1,4,VOCAB] (the output)

Under a tight `partition --max-k` the head is split by output channels (each part with its share of the
reshape) and its parts end the plan: each states its share of the outputs, and the verifier joins them, since
a chunk reading all of them back would not fit the bound.

- `models/wide_head.msgpack`, `inputs/wide_head.msgpack` (tensor 0).

Run from the repository root:  python3 testdata/scripts/make_wide_head.py   (needs: pip install msgpack)
"""

import os
import random

import msgpack

TOKENS, WIDTH, VOCAB = 4, 16, 512
SF_BITS = 8
SEED = 20261207
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def fc(inp, w, b, out, n_in, n_out, act):
    return {
        "layer_type": "FullyConnected",
        "params": [act],
        "inp_idxes": [inp, w, b],
        "inp_shapes": [[TOKENS, n_in], [n_out, n_in], [n_out]],
        "out_idxes": [out],
        "out_shapes": [[TOKENS, n_out]],
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
        {"idx": 1, "shape": [WIDTH, WIDTH], "data": weights(WIDTH, WIDTH)},
        {"idx": 2, "shape": [WIDTH], "data": bias(WIDTH)},
        {"idx": 3, "shape": [VOCAB, WIDTH], "data": weights(VOCAB, WIDTH)},
        {"idx": 4, "shape": [VOCAB], "data": bias(VOCAB)},
        {"idx": 5, "shape": [3], "data": [1, TOKENS, VOCAB]},
    ]
    layers = [
        fc(0, 1, 2, 10, WIDTH, WIDTH, 1),
        fc(10, 3, 4, 11, WIDTH, VOCAB, 0),
        {
            "layer_type": "Reshape",
            "params": [],
            "inp_idxes": [11, 5],
            "inp_shapes": [[TOKENS, VOCAB], [3]],
            "out_idxes": [12],
            "out_shapes": [[1, TOKENS, VOCAB]],
            "mask": [],
        },
    ]
    model = {
        "global_sf": sf,
        "k": 14,
        "num_cols": 10,
        "inp_idxes": [0],
        "out_idxes": [12],
        "tensors": tensors,
        "layers": layers,
    }
    inp = [
        {
            "idx": 0,
            "shape": [TOKENS, WIDTH],
            "data": [rng.randint(-2 * sf, 2 * sf) for _ in range(TOKENS * WIDTH)],
        }
    ]
    name = "wide_head.msgpack"
    with open(os.path.join(ROOT, "models", name), "wb") as f:
        f.write(msgpack.packb(model, use_bin_type=True))
    with open(os.path.join(ROOT, "inputs", name), "wb") as f:
        f.write(msgpack.packb(inp, use_bin_type=True))


if __name__ == "__main__":
    main()
