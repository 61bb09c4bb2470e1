"""Reference ProFS stages as the original implementation runs them (Uppaal/detox-edit), timed with PyTorch CPU.

Per edited layer: a (thin) full SVD of the N×D preferred embeddings (centering direction), a full SVD of the N×D
centered preference matrix T (toxic subspace), and the dense D×D projector P = I − V Vᵀ applied to the MLP output
weight W [4D, D] (W ← W P). Run by tests/bench/profs_stages_bench.ts with /usr/bin/python3 (Debian's python3-torch
on OpenBLAS, all cores); prints one JSON line with the timings. The inputs are Gaussian: the cost of a full SVD
and of a dense product does not depend on the values.

usage: reference_profs.py --n 500 --d 1024 --layers 14 --k 2 --rows 4096
"""
import argparse
import json
import os
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=14)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--rows", type=int, default=4096)
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    layers = [
        (
            torch.randn(args.n, args.d, generator=generator),
            torch.randn(args.n, args.d, generator=generator),
            torch.randn(args.rows, args.d, generator=generator) * 0.02,
        )
        for _ in range(args.layers)
    ]
    eye = torch.eye(args.d)
    # Warm up LAPACK/BLAS thread pools so the first layer is not charged for them.
    torch.linalg.svd(layers[0][0][:64], full_matrices=False)
    (layers[0][2][:64] @ eye).sum()

    timings = {"centering_s": 0.0, "svd_s": 0.0, "projection_s": 0.0}
    checksum = 0.0
    for preferred, rejected, weight in layers:
        start = time.perf_counter()
        _, _, vh = torch.linalg.svd(preferred, full_matrices=False)
        mu = vh[0]
        t = (preferred - rejected) / 2
        t = t - torch.outer(t @ mu, mu)
        middle = time.perf_counter()
        _, _, vh = torch.linalg.svd(t, full_matrices=False)
        v = vh[: args.k].T
        after_svd = time.perf_counter()
        projector = eye - v @ v.T
        edited = weight @ projector
        end = time.perf_counter()
        timings["centering_s"] += middle - start
        timings["svd_s"] += after_svd - middle
        timings["projection_s"] += end - after_svd
        checksum += float(edited[0, 0])
    timings["total_s"] = timings["centering_s"] + timings["svd_s"] + timings["projection_s"]
    print(json.dumps({
        **timings,
        "threads": threads,
        "torch": torch.__version__,
        "blas": torch.__config__.show().split("BLAS_INFO=")[-1].split(",")[0] if "BLAS_INFO=" in torch.__config__.show() else "unknown",
        "checksum": checksum,
    }))


if __name__ == "__main__":
    main()
