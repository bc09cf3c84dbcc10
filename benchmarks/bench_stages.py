"""Each stage's achieved FLOP/s on the book's model, as a fraction of this machine's measured peak.

The denominators come from ``bench_peak.py`` (``results/peak.json``: GEMM FLOP/s in bf16 and fp32,
read bandwidth). The numerators are counted from tokens and parameters, not from a profiler:

- a forward over ``T`` tokens costs ``2 * N_body * T + 2 * N_head * R`` FLOPs, where ``N_body`` is
  every matrix parameter of the decoder layers (embedding lookup excluded), ``N_head`` the output
  projection's parameters and ``R`` the positions whose logits are computed (one per row when only
  the last position's logits are asked for). Attention's score and value products (``4 * L * T * d``
  per layer) are left out: about 5 % at these prompt lengths, so every fraction below slightly
  underestimates the real one.
- a DPO step with LoRA costs ``2 N T_ref + 2 N T_pol + 2 N T_pol``: the reference forward (adapter
  off, no gradient), the policy forward and its backward (activation gradients only: the frozen
  weights get no weight gradient; LoRA's own are negligible). ``T`` are the tokens the shared-prefix
  forward actually ran (``dca.train.dpo_prefix`` counts them).
- a decode step of ``B`` rows reads every matrix weight once plus the key/value cache, so it cannot
  take less than ``bytes / bandwidth``; decode is reported as that bound over the measured step time.

Rows:

- **prefill**: the prompts' forward (batch 8, no prefix sharing, last position's logits only), the
  work that dominates eliciting and scoring;
- **decode**: greedy next-token steps on a batch-8 cache of those prompts;
- **elicitation (stage 1 as run)**: ``dca.extract.elicit.generate_replies`` with the shared prompt prefix,
  its C_i read from the generation pass (one prefill per question); FLOPs of the tokens it ran;
- **C_i, separate pass**: ``dca.extract.confidence.internal_confidence`` (what runs only for replies whose
  letter was not generated as its own token), FLOPs of the tokens it ran;
- **DPO step**: ``dca.train.stage.train_adapter`` defaults on pairs built from this run's stage 1 (batch 4,
  shared-prefix tree), median step, FLOPs from the tokens the tree ran.

``python benchmarks/bench_stages.py [--model qwen2.5-coder-1.5b] [--n 32] [--steps 4]``
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, RssSampler, peak_rss_mb, report, table  # noqa: E402


def matrix_params(model) -> tuple[int, int]:
    """(``N_body``, ``N_head``): matrix parameters of the decoder's linear layers (embedding lookup
    excluded) and of the output projection (counted even when it is tied to the embedding: it is a
    matrix product there), counted from the layers' shapes."""
    head_module = model.get_output_embeddings()
    head = head_module.in_features * head_module.out_features
    body = sum(m.in_features * m.out_features for m in model.modules()
               if m is not head_module and isinstance(getattr(m, "in_features", None), int)
               and isinstance(getattr(m, "out_features", None), int))
    return body, head


def peaks(dtype: str) -> tuple[float, float]:
    """(GEMM FLOP/s of ``dtype``, read bandwidth in bytes/s) from ``results/peak.json``."""
    path = RESULTS / "peak.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run python benchmarks/bench_peak.py first")
    data = json.loads(path.read_text())
    gemm = data["gemm"]
    name = "bf16" if dtype == "bfloat16" else "fp32"
    peak = max(v for k, v in gemm.items() if k.startswith(name + "_"))
    return peak, data["bandwidth"]["read_bytes_per_s"]


def prefill_and_decode(model, tokenizer, prompts: list[str], batch: int, steps: int) -> dict:
    """Time a plain batched prefill (last logits only) and ``steps`` greedy decode steps per batch."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    prefill_s = decode_s = 0.0
    real = run = rows = decode_rows = 0
    kv_bytes = []
    with torch.inference_mode():
        for start in range(0, len(encoded), batch):
            chunk = encoded[start:start + batch]
            width = max(len(e) for e in chunk)
            ids = torch.tensor([[pad] * (width - len(e)) + e for e in chunk])
            mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in chunk])
            t0 = time.perf_counter()
            out = model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1)
            prefill_s += time.perf_counter() - t0
            real += int(mask.sum())
            run += ids.numel()
            rows += len(chunk)
            cache, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            t0 = time.perf_counter()
            for _ in range(steps):
                mask = torch.cat([mask, mask.new_ones((len(chunk), 1))], dim=1)
                out = model(input_ids=nxt, attention_mask=mask, past_key_values=cache, use_cache=True)
                cache, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            decode_s += time.perf_counter() - t0
            decode_rows += len(chunk) * steps
            kv_bytes.append(sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values)))
    return {"prefill_s": prefill_s, "prefill_real_tokens": real, "prefill_run_tokens": run, "prefill_rows": rows,
            "decode_s": decode_s, "decode_steps": steps * len(range(0, len(encoded), batch)),
            "decode_rows": decode_rows, "kv_bytes_mean": statistics.mean(kv_bytes)}


def elicitation(model, tokenizer, questions, prompts: list[str]) -> dict:
    """Stage 1 as the pipeline runs it (replies + C_i from the generation pass), and the tokens it ran."""
    from dca.extract.prefix import common_prefix_length
    from dca.extract.stage import extract_table

    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    shared = common_prefix_length(encoded)
    t0 = time.perf_counter()
    tab = extract_table(model, tokenizer, questions, ["train"] * len(questions), k_shot=3, batch_size=8,
                        max_new_tokens=16, progress=False)
    seconds = time.perf_counter() - t0
    prompt_tokens = shared + sum(len(e) - shared for e in encoded)
    return {"s": seconds, "table": tab, "prompt_tokens_run": prompt_tokens, "shared": shared}


def separate_ci(model, tokenizer, questions, tab) -> dict:
    """The separate C_i pass over every parsed reply, and the tokens it ran."""
    from dca.extract.confidence import LetterTokenError, internal_confidence, letter_token_ids, query_from_reply
    from dca.extract.parsing import parse_letter
    from dca.extract.prefix import common_prefix_length

    queries = []
    for q, prompt, reply in zip(questions, tab["prompt"], tab["response"]):
        letter = parse_letter(reply, q.letters)
        queries.append(query_from_reply(prompt, reply, letter.start, letter.letter, q.letters) if letter.ok else None)
    contexts = []
    for q in queries:
        try:
            contexts.append(letter_token_ids(tokenizer, q.context, q.options)[0])
        except (AttributeError, LetterTokenError):  # no letter (None), or one internal_confidence skips too
            continue
    shared = common_prefix_length(contexts)
    t0 = time.perf_counter()
    internal_confidence(model, tokenizer, queries, batch_size=8, progress=False)
    seconds = time.perf_counter() - t0
    return {"s": seconds, "tokens_run": shared + sum(len(c) - shared for c in contexts), "rows": len(contexts)}


def dpo_steps(model_name: str, tab, steps: int, lora_layers: int = 0) -> dict:
    """``steps`` optimiser steps of ``train_adapter`` with its defaults (``lora_layers`` apart) on pairs
    from ``tab``, and the largest resident memory while it ran (sampled every 50 ms)."""
    from bench_train import step_timer

    from dca.pairs import PairsConfig, build_pairs
    from dca.runs import artifacts
    from dca.train.stage import TrainConfig, train_adapter

    timer = step_timer()
    counters = {}

    from transformers import TrainerCallback

    class Counter(TrainerCallback):  # read dca.train.dpo_prefix's token counter after each step
        def on_step_end(self, args, state, control, model=None, **kw):
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            counters.setdefault("run", []).append(getattr(base, "dca_tokens_run", 0))

    with RssSampler() as sampler, tempfile.TemporaryDirectory() as tmp:
        records, _ = build_pairs(tab, PairsConfig())
        artifacts.write_jsonl(Path(tmp) / "pairs.jsonl", records)
        config = TrainConfig(run_dir=tmp, model=model_name, max_steps=steps, save_steps=10_000, seed=0,
                             lora_layers=lora_layers)
        train_adapter(config, callbacks=[timer, Counter()], force=True)
    runs = counters.get("run", [])
    per_step = [b - a for a, b in zip([0] + runs[:-1], runs)]
    return {"step_s": timer.times, "tokens_run": per_step, "batch": config.batch_size, "pairs": len(records),
            "peak_rss_gib": sampler.peak, "lora_layers": lora_layers}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--n", type=int, default=32, help="OpenBookQA questions (the offline copy)")
    ap.add_argument("--decode-steps", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4, help="DPO steps (the first is reported apart: warm-up)")
    ap.add_argument("--lora-layers", type=int, default=14,
                    help="also time DPO steps with LoRA on the last this many layers only (0: skip)")
    args = ap.parse_args(argv)

    import torch

    from dca.data import load_questions
    from dca.extract.prompts import build_messages, render_prompt, supports_system_role
    from dca.models.loading import load_model

    peak, bandwidth = peaks(args.dtype)
    loaded = load_model(args.model, device="cpu", dtype=args.dtype)
    model, tok = loaded.model, loaded.tokenizer
    body, head = matrix_params(model)
    bytes_per = torch.finfo(getattr(torch, args.dtype)).bits // 8
    weight_bytes = (body + head) * bytes_per
    questions = load_questions("openbookqa", n=args.n, seed=0)
    system = supports_system_role(tok)
    prompts = [render_prompt(tok, build_messages(q.question, q.choices, context=q.context, k_shot=3, system=system))
               for q in questions]

    def fraction(flops: float, seconds: float) -> tuple[float, float]:
        return flops / seconds, flops / seconds / peak

    pd_ = prefill_and_decode(model, tok, prompts, batch=8, steps=args.decode_steps)
    el = elicitation(model, tok, questions, prompts)
    ci = separate_ci(model, tok, questions, el["table"])
    rss_inference = peak_rss_mb()
    del model, loaded
    gc.collect()
    dpo = dpo_steps(args.model, el["table"], args.steps)
    dpo_top = dpo_steps(args.model, el["table"], args.steps, args.lora_layers) if args.lora_layers else None

    rows, data = [], {"model": args.model, "dtype": args.dtype, "n": args.n, "n_body": body, "n_head": head,
                      "peak_flops": peak, "bandwidth": bandwidth}
    f, frac = fraction(2 * body * pd_["prefill_real_tokens"] + 2 * head * pd_["prefill_rows"], pd_["prefill_s"])
    rows.append(["prefill (batch 8, plain)", pd_["prefill_real_tokens"], pd_["prefill_s"], f / 1e9, f"{100 * frac:.0f} %",
                 f"padding {100 * (1 - pd_['prefill_real_tokens'] / pd_['prefill_run_tokens']):.0f} % of the run"])
    data["prefill"] = {**{k: v for k, v in pd_.items() if k.startswith("prefill")}, "flops_per_s": f, "of_peak": frac}

    step_s = pd_["decode_s"] / pd_["decode_steps"]
    bound = (weight_bytes + pd_["kv_bytes_mean"]) / bandwidth
    f = (2 * (body + head) * pd_["decode_rows"]) / pd_["decode_s"]
    rows.append(["decode step (batch 8)", pd_["decode_rows"], pd_["decode_s"], f / 1e9, f"{100 * f / peak:.1f} %",
                 f"{1000 * step_s:.0f} ms a step; bandwidth bound {1000 * bound:.0f} ms: {100 * bound / step_s:.0f} % of it"])
    data["decode"] = {"step_s": step_s, "bound_s": bound, "of_bound": bound / step_s, "flops_per_s": f,
                      "kv_bytes_mean": pd_["kv_bytes_mean"]}

    # stage 1 as run: prompt tokens (shared prefix once) + generated rows; FLOPs of the generated
    # tokens counted as decode (2 (N_body + N_head) each)
    generated = sum(len(tok(r, add_special_tokens=False)["input_ids"]) + 1 for r in el["table"]["response"])
    flops = 2 * body * el["prompt_tokens_run"] + 2 * head * args.n + 2 * (body + head) * generated
    f, frac = fraction(flops, el["s"])
    rows.append(["elicitation + C_i (stage 1 as run)", el["prompt_tokens_run"] + generated, el["s"], f / 1e9,
                 f"{100 * frac:.0f} %", f"{el['s'] / args.n:.2f} s a question; prefix of {el['shared']} tokens run once"])
    data["elicitation"] = {"s": el["s"], "tokens": el["prompt_tokens_run"] + generated, "flops_per_s": f, "of_peak": frac}

    f, frac = fraction(2 * body * ci["tokens_run"] + 2 * head * ci["rows"], ci["s"])
    rows.append(["C_i, separate pass", ci["tokens_run"], ci["s"], f / 1e9, f"{100 * frac:.0f} %",
                 f"{ci['rows']} replies; runs only where the letter is not its own generated token"])
    data["ci_separate"] = {**ci, "flops_per_s": f, "of_peak": frac}

    steady = list(zip(dpo["step_s"], dpo["tokens_run"]))[1:] or list(zip(dpo["step_s"], dpo["tokens_run"]))
    step = statistics.median(s for s, _ in steady)
    tokens = statistics.median(t for _, t in steady)  # reference + policy forward tokens of one step
    f = 3 * (body + head) * tokens / step  # 2 N T_ref + 2 N T_pol + 2 N T_pol, T_ref = T_pol = tokens / 2
    rows.append([f"DPO step (batch {dpo['batch']}, shared-prefix tree)", int(tokens), step, f / 1e9,
                 f"{100 * f / peak:.0f} %", f"median of steps 2..{len(dpo['step_s'])}; tokens = reference + policy "
                 f"forward; peak RSS {dpo['peak_rss_gib']:.1f} GiB"])
    data["dpo"] = {**dpo, "median_step_s": step, "median_tokens": tokens, "flops_per_s": f, "of_peak": f / peak}
    if dpo_top is not None:
        top_step = statistics.median(dpo_top["step_s"][1:] or dpo_top["step_s"])
        rows.append([f"DPO step, LoRA on the last {args.lora_layers} layers only", int(tokens), top_step, "—", "—",
                     f"{step / top_step:.2f}x faster than all layers (same pairs); peak RSS "
                     f"{dpo_top['peak_rss_gib']:.1f} GiB; the backward stops at the lowest adapted layer"])
        data["dpo_lora_layers"] = {**dpo_top, "median_step_s": top_step, "speedup": step / top_step}
    data["peak_rss_mb"] = peak_rss_mb()
    data["peak_rss_inference_mb"] = rss_inference

    text = (f"{args.model} in {args.dtype} ({(body + head) / 1e9:.2f} B matrix parameters: {body / 1e9:.2f} B in "
            f"the layers, {head / 1e9:.2f} B output projection), {args.n} OpenBookQA questions (offline copy, "
            f"3-shot). Denominators from `bench_peak.py`: {peak / 1e9:,.0f} GFLOP/s GEMM peak, "
            f"{bandwidth / 1e9:.1f} GB/s read bandwidth. FLOPs counted as 2 x parameters x tokens "
            f"(attention products left out, about 5 %).\n\n"
            + table(["stage", "tokens", "seconds", "GFLOP/s", "of peak", "note"], rows)
            + f"\n\nPeak RSS: {rss_inference / 1024:.1f} GiB through inference, {data['peak_rss_mb'] / 1024:.1f} GiB "
              "with training (one process).")
    report("stages", "Each stage's FLOP/s against this machine's peak", text, data)
    return data


if __name__ == "__main__":
    main()
