"""3. GPU benchmark: extraction, generation and a DPO step at a paper model's shape, random weights, bf16.

No weights can be downloaded on the GPU machine, so the model is a random-initialised Llama with the
shape of Llama-3.2-3B-Instruct (28 layers, hidden 3072, MLP 8192, 24 heads / 8 KV heads, vocabulary
128 256, tied embeddings: 3.21 B parameters), built in bf16 directly on the GPU, with the byte-level
BPE tokenizer trained locally by :func:`dca.models.tiny.build_tokenizer` (its ids are a subset of the
vocabulary; prompt lengths are in its tokens). Throughput depends on shapes, not on the weights'
values; the generated text is noise and every reply runs to ``max_new_tokens``.

Measured (each after a warm-up, with ``torch.cuda.synchronize``):

* **C_i extraction**: :func:`dca.extract.confidence.internal_confidence`, questions/s, with and without the
  shared prefix;
* **generation**: :func:`dca.extract.elicit.generate_replies`, questions/s, vs a one-at-a-time
  ``model.generate`` loop on a few questions;
* **DPO step**: TRL ``DPOTrainer`` with dca's arguments (:func:`dca.train.stage.dpo_args`: bf16, LoRA r 16 on
  all linear projections, reference = adapter off), half the steps with TRL's full forward and half
  with dca's shared-prefix forward (:mod:`dca.train.dpo_prefix`): median seconds per optimiser step, pair
  tokens/s and model FLOP utilisation (MFU) against the H200's dense bf16 peak, 989 TFLOP/s:

  FLOPs/step = 2·N·T (reference forward) + 2·N·T (policy forward) + 2·N·T (policy backward: gradients
  of the activations only; the frozen base weights need no weight gradients, LoRA's are negligible)
  = **6·N·T**, with N = all parameters (the tied embedding counted once, as the output projection) and T =
  the real tokens the model runs in the step (prompt+chosen and prompt+rejected for the full forward;
  for the shared-prefix forward the tokens of its tree, counted by :mod:`dca.train.dpo_prefix`). Attention's sequence-quadratic
  FLOPs are left out (~2 % at these lengths), so the MFU is a slight underestimate. With gradient
  checkpointing add 2·N·T (recompute).

``python benchmarks/gpu_bench.py`` (on a GPU; about 3-5 minutes on one H200) or
``python benchmarks/gpu_bench.py --tiny`` (a tiny shape on the CPU in ~1 minute: tests the script).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

H200_BF16_PEAK = 989e12

SHAPES = {
    # Llama-3.2-3B(-Instruct) config.json values
    "llama-3.2-3b": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                         num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True,
                         rope_theta=500000.0, max_position_embeddings=8192),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1024, tie_word_embeddings=True, max_position_embeddings=2048),
}


def build(shape: str, device, dtype):
    """A random Llama of ``shape`` on ``device`` in ``dtype`` and the locally trained tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from dca.models.tiny import build_tokenizer

    tok = build_tokenizer(512)
    tok.padding_side = "left"
    kw = dict(SHAPES[shape])
    rope = kw.pop("rope_theta", None)
    config = LlamaConfig(**kw, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id)
    if rope is not None:
        config.rope_parameters = {"rope_type": "default", "rope_theta": rope}
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    model.eval()
    model.generation_config.eos_token_id = None  # random weights: always generate max_new_tokens
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


def sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int = 1):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny shape on the CPU: checks the script, not a benchmark")
    ap.add_argument("--shape", default="llama-3.2-3b", choices=sorted(SHAPES))
    ap.add_argument("--n", type=int, default=512, help="questions for extraction / generation")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--loop-n", type=int, default=8, help="questions in the one-at-a-time generate loop")
    ap.add_argument("--dpo-steps", type=int, default=10, help="half with the full forward, half shared")
    ap.add_argument("--dpo-batch", type=int, default=16, help="pairs per step (the paper-scale effective batch)")
    ap.add_argument("--out", default=None, help="write the JSON results here too")
    args = ap.parse_args(argv)
    if args.tiny:
        args.shape, args.n, args.batch_size, args.loop_n, args.dpo_steps, args.dpo_batch = "tiny", 32, 16, 4, 4, 4

    import torch

    from dca.data import load_questions
    from dca.extract.confidence import LetterQuery, internal_confidence
    from dca.extract.elicit import generate_replies
    from dca.extract.prompts import build_messages, render_prompt

    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    dtype = torch.bfloat16
    started = time.perf_counter()
    model, tok = build(args.shape, device, dtype)
    n_params = sum(p.numel() for p in model.parameters())
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    print(f"[gpu_bench] {args.shape}: {n_params / 1e9:.3f} B parameters on {name}, built in "
          f"{time.perf_counter() - started:.1f} s", flush=True)

    questions = load_questions("synthetic", n=args.n, seed=0)
    prompts = [render_prompt(tok, build_messages(q.question, q.choices, k_shot=3)) for q in questions]
    prompt_tokens = statistics.mean(len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    queries = [LetterQuery(p + "Answer: ", q.answer_letter, q.letters) for p, q in zip(prompts, questions)]
    results: dict = {"shape": args.shape, "params": n_params, "device": name, "dtype": "bfloat16",
                     "n": args.n, "batch_size": args.batch_size, "mean_prompt_tokens": prompt_tokens}

    # C_i extraction
    for share in (True, False):
        secs = timed(lambda: internal_confidence(model, tok, queries, batch_size=args.batch_size,
                                                 share_prefix=share, progress=False))
        results[f"extract_qps_{'prefix' if share else 'noprefix'}"] = args.n / secs
    print(f"[gpu_bench] extraction: {results['extract_qps_prefix']:.0f} questions/s "
          f"({results['extract_qps_noprefix']:.0f} without the shared prefix)", flush=True)

    # generation
    secs = timed(lambda: generate_replies(model, tok, prompts, batch_size=args.batch_size, progress=False))
    results["generate_qps"] = args.n / secs

    def loop():
        with torch.inference_mode():
            for p in prompts[:args.loop_n]:
                enc = tok(p, return_tensors="pt", add_special_tokens=False).to(device)
                model.generate(**enc, max_new_tokens=16, do_sample=False, temperature=None, top_p=None, top_k=None)

    results["generate_loop_qps"] = args.loop_n / timed(loop)
    results["generate_ratio"] = results["generate_qps"] / results["generate_loop_qps"]
    print(f"[gpu_bench] generation: {results['generate_qps']:.1f} questions/s batched, "
          f"{results['generate_loop_qps']:.2f} one at a time ({results['generate_ratio']:.1f}x)", flush=True)

    # DPO steps
    results.update(dpo(model, tok, args, n_params, device))
    results["total_s"] = time.perf_counter() - started
    print(json.dumps(results, indent=2), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return results


def dpo(model, tok, args, n_params: int, device) -> dict:
    """DPO steps: the first half with TRL's full forward, the second half with dca's shared-prefix forward
    (one trainer, one adapter; a callback flips the switch), each timed after its own warm-up step."""
    import tempfile

    import torch
    from bench_train import make_pairs, tokens_per_pair
    from transformers import TrainerCallback
    from trl import DPOTrainer

    from dca.train import dpo_prefix
    from dca.train.stage import TrainConfig, dpo_args, lora_config, pairs_dataset

    half = max(2, args.dpo_steps // 2)
    records = make_pairs(2 * half * args.dpo_batch, k_shot=3)
    # real tokens of the step's sequences (prompt+chosen, prompt+rejected), as TRL runs them
    tokens_per_step = tokens_per_pair(tok, records) * args.dpo_batch

    class Timer(TrainerCallback):
        def __init__(self, base):
            self.base, self.times, self.run = base, {False: [], True: []}, {False: [0, 0], True: [0, 0]}

        def on_step_begin(self, a, state, c, **kw):
            self.shared = state.global_step >= half
            self.base.dca_shared_prefix_ok = self.shared
            self.before = (self.base.dca_tokens_run, self.base.dca_tokens_full)
            sync()
            self.t = time.perf_counter()

        def on_step_end(self, a, s, c, **kw):
            sync()
            self.times[self.shared].append(time.perf_counter() - self.t)
            self.run[self.shared][0] += self.base.dca_tokens_run - self.before[0]
            self.run[self.shared][1] += self.base.dca_tokens_full - self.before[1]

    model.train()
    model.config.use_cache = False
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(run_dir=tmp, batch_size=args.dpo_batch, max_steps=2 * half, save_steps=10**6,
                             precision="bf16", learning_rate=1e-5, max_length=1024)
        dargs = dpo_args(config, "bf16" if device.type == "cuda" else "fp32", 1)
        dargs.save_strategy = "no"
        if device.type != "cuda":
            dargs.use_cpu = True
        lora = lora_config(config)
        trainer = DPOTrainer(model=model, ref_model=None, args=dargs, train_dataset=pairs_dataset(records),
                             processing_class=tok, peft_config=lora)
        base = dpo_prefix.install(trainer.model.get_base_model())
        timer = Timer(base)
        trainer.add_callback(timer)
        trainer.train()
    out = {"dpo_pairs_per_step": args.dpo_batch, "dpo_tokens_per_step": tokens_per_step,
           "dpo_peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None}
    for shared, name in ((False, "full"), (True, "shared")):
        times = timer.times[shared]
        step = statistics.median(times[1:] or times)
        # tokens the model actually ran per step (policy + reference pass, so halve): the MFU counts those
        run = tokens_per_step if not shared else tokens_per_step * timer.run[True][0] / max(timer.run[True][1], 1)
        flops = 6 * n_params * run
        out.update({f"dpo_{name}_steps": len(times), f"dpo_{name}_step_s_median": step,
                    f"dpo_{name}_tokens_per_s": tokens_per_step / step, f"dpo_{name}_tokens_run_per_step": run,
                    f"dpo_{name}_tflops": flops / step / 1e12, f"dpo_{name}_mfu_h200": flops / step / H200_BF16_PEAK,
                    f"dpo_{name}_step_times": times})
        print(f"[gpu_bench] DPO ({name} forward): {step:.3f} s/step, {tokens_per_step / step:.0f} pair tokens/s, "
              f"{run:.0f} tokens run per step, {flops / step / 1e12:.1f} TFLOP/s = "
              f"{100 * flops / step / H200_BF16_PEAK:.1f} % of 989 TFLOP/s", flush=True)
    out["dpo_shared_speedup"] = out["dpo_full_step_s_median"] / out["dpo_shared_step_s_median"]
    return out


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
