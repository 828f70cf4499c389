#!/usr/bin/env python3
"""Write one part of a FullyConnected layer split by output channels as a model of its own (for measuring).

`dzk partition` splits a FullyConnected layer too large for its bound into parts, each computing a share of the
output channels from the whole input. This script writes the circuit one such part proves, from a model whose
first layer is the FullyConnected (as `dzk extract` writes one): the layer restricted to `--count` output
channels starting at `--first` (its weight rows and bias entries), the layers after it dropped, and its output
the model's output. The extracted model's input file is the part's input file too.

docs/benchmarks.md uses it for GPT-2's LM head (64 x 768 x 50,257), which no plan can prove yet (the chunk after
its parts would have to read all 3.2 M outputs), to measure what one of its parts costs:

    dzk extract gpt2.msgpack --layers 1091..1092 -o lm.msgpack --input inp.msgpack --emit-input lm-in.msgpack
    python3 testdata/scripts/fc_part.py lm.msgpack --count 2394 -o part.msgpack
    dzk partition part.msgpack --max-k 19 -o run ...

Needs: pip install msgpack
"""

import argparse
import os
import sys

import msgpack


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a zkml model whose first layer is a FullyConnected")
    ap.add_argument("--first", type=int, default=0, help="the first output channel of the part")
    ap.add_argument("--count", type=int, required=True, help="output channels in the part")
    ap.add_argument("-o", "--output", required=True, help="the model file to write")
    a = ap.parse_args()

    with open(a.model, "rb") as f:
        m = msgpack.unpackb(f.read(), raw=False, strict_map_key=False)
    fc = m["layers"][0]
    if fc["layer_type"] != "FullyConnected" or len(fc["inp_idxes"]) < 2:
        print(f"{a.model}: its first layer is a {fc['layer_type']}, not a FullyConnected with weights", file=sys.stderr)
        return 2
    out_ch, width = fc["inp_shapes"][1]
    if a.count < 1 or a.first < 0 or a.first + a.count > out_ch:
        print(f"{a.model}: channels {a.first}..{a.first + a.count} are not within its {out_ch}", file=sys.stderr)
        return 2
    rows = out_ch if len(fc["out_shapes"][0]) == 1 else fc["out_shapes"][0][0]
    lo, n = a.first, a.count
    fc["inp_shapes"][1] = [n, width]
    weight, bias = fc["inp_idxes"][1], (fc["inp_idxes"][2] if len(fc["inp_idxes"]) > 2 else None)
    if bias is not None:
        fc["inp_shapes"][2] = [n]
    fc["out_shapes"] = [[rows, n]] if len(fc["out_shapes"][0]) == 2 else [[n]]
    m["layers"] = [fc]
    m["out_idxes"] = fc["out_idxes"]
    keep = set(fc["inp_idxes"])
    tensors = []
    for t in m["tensors"]:
        if t["idx"] not in keep:
            continue
        if t["idx"] == weight:
            t["shape"] = [n, width]
            t["data"] = t["data"][lo * width:(lo + n) * width]
        elif t["idx"] == bias:
            t["shape"] = [n]
            t["data"] = t["data"][lo:lo + n]
        tensors.append(t)
    m["tensors"] = tensors
    tmp = a.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(msgpack.packb(m, use_bin_type=True))
    os.replace(tmp, a.output)
    print(f"wrote {a.output}: output channels {lo}..{lo + n} of {out_ch} ({n * width + (n if bias is not None else 0)} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
