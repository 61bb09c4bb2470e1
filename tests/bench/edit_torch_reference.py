#!/usr/bin/python3
"""The PyTorch CPU baseline for edit_memory_bench.ts: load the whole model, edit it (ProFS projection of the
MLP output matrices of the given layers, from an embeddings file), save it. Prints one JSON line with wall time
and peak RSS. Not the product: the yardstick the streaming edit is compared with.

usage: edit_torch_reference.py MODEL_DIR EMBEDDINGS OUT_FILE FROM TO RANK

Threads: PROFS_THREADS, else every core (torch.set_num_threads), as profs sizes OpenBLAS.
"""
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    metadata = header.pop("__metadata__", None)
    tensors = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        array = np.frombuffer(data, dtype=np.float32, count=(end - begin) // 4, offset=8 + n + begin)
        tensors[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return tensors, metadata


def save(path, tensors, metadata):
    header = {} if metadata is None else {"__metadata__": metadata}
    offset = 0
    for name, t in tensors.items():
        size = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for t in tensors.values():
            f.write(t.contiguous().numpy().tobytes())


def main():
    threads = os.environ.get("PROFS_THREADS")
    torch.set_num_threads(int(threads) if threads else (os.cpu_count() or 1))
    model_dir, embeddings, out, first, last, rank = sys.argv[1:7]
    start, cpu = time.time(), time.process_time()  # after the imports, as profs's clock starts after its own
    start_usage = resource.getrusage(resource.RUSAGE_SELF)
    tensors, metadata = load(f"{model_dir}/model.safetensors")
    emb, _ = load(embeddings)
    for layer in range(int(first), int(last)):
        xp = emb["preferred"][layer].double()
        t = (xp - emb["rejected"][layer].double()) / 2
        mu = torch.linalg.svd(xp, full_matrices=False)[2][0]
        t = t - torch.outer(t @ mu, mu)
        v = torch.linalg.svd(t, full_matrices=False)[2][: int(rank)].T.float()
        for name in (f"h.{layer}.mlp.c_proj.weight", f"transformer.h.{layer}.mlp.c_proj.weight"):
            if name in tensors:
                w = tensors[name]
                tensors[name] = w - (w @ v) @ v.T
    save(out, tensors, metadata)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "seconds": time.time() - start,
        "cpu_seconds": time.process_time() - cpu,
        "system_seconds": usage.ru_stime - start_usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
