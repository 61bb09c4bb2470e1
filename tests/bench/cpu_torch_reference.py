"""The PyTorch 2 + transformers CPU yardstick for tests/bench/cpu_vs_torch_bench.ts, on the same files and threads.

  edit MODEL_DIR PAIRS OUT_DIR FROM TO RANK MAX_TOKENS BATCH
      What `profs edit --pairs` does, the way a PyTorch user writes it: load the model (transformers), tokenize
      both sides of every pair (truncated to MAX_TOKENS), run them in batches of BATCH sorted by length and
      right-padded, masked mean of every block's output (forward hooks: the residual stream after the block,
      before the final LayerNorm), then per layer FROM..TO-1 ProFS with exact SVDs (centering direction of X+,
      T = (X+ - X-)/2 with it projected out, top RANK right singular vectors V) and W <- W - (W V) V^T on
      mlp.c_proj.weight, and save the model (safetensors). Prints one JSON line of stage timings.

  throughput MODEL_DIR WORK_JSON
      Embedding tokens/s (batched masked-mean forward over the given token-id sequences, batches of `batch`) and
      greedy generation tokens/s (KV cache, `model.generate`, equal-length prompts so no padding) for the
      sequences in WORK_JSON, per wall second and per CPU second of the process. Prints one JSON line.

Threads: PROFS_THREADS, else every core (torch.set_num_threads), as profs sizes OpenBLAS.
"""
import json
import os
import resource
import sys
import time

import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast


def threads() -> int:
    value = os.environ.get("PROFS_THREADS")
    return int(value) if value else (os.cpu_count() or 1)


def load_model(model_dir):
    """Any family transformers knows, computed in float32 as profs computes (a BF16 folder is widened)."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    return model


def body(model):
    """The decoder without its head: GPT-2's `transformer`, Llama's `model`."""
    return model.transformer if hasattr(model, "transformer") else model.model


def blocks_of(model):
    b = body(model)
    return b.h if hasattr(b, "h") else b.layers


def mlp_output(model, l):
    """The edited matrix and whether D is its column axis (GPT-2's Conv1D c_proj [4D, D]) or its row axis."""
    block = blocks_of(model)[l]
    if hasattr(block.mlp, "c_proj"):
        return block.mlp.c_proj.weight, True
    return block.mlp.down_proj.weight, False


def pooled_per_block(model, sequences, batch, layers):
    """Masked mean of block l's output for l in `layers`, as {l: [N, D]} in the sequences' order."""
    blocks = blocks_of(model)
    captured = {}
    hooks = [
        blocks[l].register_forward_hook(lambda _m, _i, out, l=l: captured.__setitem__(l, out[0] if isinstance(out, tuple) else out))
        for l in layers
    ]
    order = sorted(range(len(sequences)), key=lambda i: (len(sequences[i]), i))
    d = model.config.hidden_size
    out = {l: torch.empty(len(sequences), d) for l in layers}
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch):
                idx = order[start : start + batch]
                width = max(len(sequences[i]) for i in idx)
                ids = torch.zeros(len(idx), width, dtype=torch.long)
                mask = torch.zeros(len(idx), width, dtype=torch.long)
                for b, i in enumerate(idx):
                    ids[b, : len(sequences[i])] = torch.tensor(sequences[i])
                    mask[b, : len(sequences[i])] = 1
                body(model)(input_ids=ids, attention_mask=mask, use_cache=False)
                weights = mask.unsqueeze(-1).float()
                for l in layers:
                    pooled = (captured[l] * weights).sum(1) / weights.sum(1)
                    out[l][idx] = pooled
    finally:
        for h in hooks:
            h.remove()
    return out


def edit(model_dir, pairs_path, out_dir, first, last, rank, max_tokens, batch):
    started = time.perf_counter()
    model = load_model(model_dir)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"))
    with open(pairs_path) as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    loaded = time.perf_counter()
    texts = [p["preferred"] for p in pairs] + [p["rejected"] for p in pairs]
    sequences = [tokenizer.encode(t)[:max_tokens] for t in texts]
    layers = list(range(first, last))
    pooled = pooled_per_block(model, sequences, batch, layers)
    embedded = time.perf_counter()
    n = len(pairs)
    with torch.inference_mode():
        for l in layers:
            x = pooled[l].double()
            preferred, rejected = x[:n], x[n:]
            mu = torch.linalg.svd(preferred, full_matrices=False).Vh[0]
            t = (preferred - rejected) / 2
            t = t - torch.outer(t @ mu, mu)
            v = torch.linalg.svd(t, full_matrices=False).Vh[:rank].T  # [D, k]
            w, d_last = mlp_output(model, l)  # GPT-2 [4D, D] (Conv1D), else [D, I]
            wd = w.double()
            w.copy_((wd - (wd @ v) @ v.T if d_last else wd - v @ (v.T @ wd)).float())
    edited = time.perf_counter()
    model.save_pretrained(out_dir, safe_serialization=True)
    written = time.perf_counter()
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seconds": written - started,
        "load_s": loaded - started,
        "embed_s": embedded - loaded,
        "subspace_s": edited - embedded,
        "write_s": written - edited,
        "tokens": sum(len(s) for s in sequences),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def throughput(model_dir, work_path):
    with open(work_path) as f:
        work = json.load(f)
    model = load_model(model_dir)
    layers = list(range(model.config.num_hidden_layers))
    pooled_per_block(model, work["embed"][:2], work["batch"], layers)  # warm up
    start, cpu = time.perf_counter(), time.process_time()
    pooled_per_block(model, work["embed"], work["batch"], layers)
    embed_s, embed_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    prompts = torch.tensor(work["prompts"], dtype=torch.long)
    with torch.inference_mode():
        model.generate(prompts[:1], attention_mask=torch.ones_like(prompts[:1]), max_new_tokens=1, do_sample=False,
                       pad_token_id=0)
        start, cpu = time.perf_counter(), time.process_time()
        model.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=work["new_tokens"],
                       min_new_tokens=work["new_tokens"], do_sample=False, use_cache=True, pad_token_id=0)
        generate_s, generate_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    embedded = sum(len(s) for s in work["embed"])
    generated = len(work["prompts"]) * work["new_tokens"]
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "embed_tokens": embedded,
        "embed_s": embed_s,
        "embed_cpu_s": embed_cpu_s,
        "generate_tokens": generated,
        "generate_s": generate_s,
        "generate_cpu_s": generate_cpu_s,
    }))


def main():
    torch.set_num_threads(threads())
    command, args = sys.argv[1], sys.argv[2:]
    if command == "edit":
        model_dir, pairs, out_dir, first, last, rank, max_tokens, batch = args
        edit(model_dir, pairs, out_dir, int(first), int(last), int(rank), int(max_tokens), int(batch))
    elif command == "throughput":
        throughput(*args)
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
