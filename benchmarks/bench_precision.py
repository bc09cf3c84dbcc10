"""bfloat16 against float32 on the CPU: do the answers, confidences and DPO losses agree, and how much faster?

For each model (the embedded SmolLM2-135M and Qwen2.5-Coder-1.5B), the same OpenBookQA questions
(the offline copy) are asked in float32 and in bfloat16 with the pipeline's own code (stage 1:
replies, letters, C_v, C_i read from the generation pass), then the same preference pairs are
trained for a few DPO steps in each precision. Reported: letters equal, parse rates, max and
median |ΔC_i| (points), the final DPO loss of each precision, and the wall time ratio of stage 1.
The two precisions run one after the other (not interleaved: the 1.5B model in float32 does not
fit twice in memory beside a running experiment), so the ratio is only as good as the machine's
quiet.

    python benchmarks/bench_precision.py [--models embedded qwen2.5-coder-1.5b] [--n 32] [--steps 3]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, table, tagged  # noqa: E402


def stage1(model: str, dtype: str, n: int):
    from dca.data import load_questions
    from dca.extract.stage import extract_table
    from dca.models.loading import load_model

    lm = load_model(model, device="cpu", dtype=dtype)
    questions = load_questions("openbookqa", n=n, seed=0)
    start = time.perf_counter()
    tab = extract_table(lm.model, lm.tokenizer, questions, ["train"] * len(questions), k_shot=3, batch_size=8,
                        max_new_tokens=16, progress=False)
    seconds = time.perf_counter() - start
    del lm
    gc.collect()
    return tab, seconds


def final_loss(model: str, precision: str, table, steps: int) -> float:
    from dca.pairs import PairsConfig, build_pairs
    from dca.runs import artifacts
    from dca.train.stage import TrainConfig, train_adapter

    with tempfile.TemporaryDirectory() as tmp:
        records, _ = build_pairs(table, PairsConfig())
        artifacts.write_jsonl(Path(tmp) / "pairs.jsonl", records)
        config = TrainConfig(run_dir=tmp, model=model, precision=precision, max_steps=steps, batch_size=2,
                             warmup_ratio=0.0, save_steps=1000, seed=0, lora_dropout=0.0)
        train_adapter(config)
        log = artifacts.read_jsonl(Path(tmp) / "train_log.jsonl")
    return float([row["loss"] for row in log if "loss" in row][-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["embedded", "qwen2.5-coder-1.5b"])
    parser.add_argument("--n", type=int, default=32, help="OpenBookQA questions")
    parser.add_argument("--steps", type=int, default=3, help="DPO steps of 2 pairs in each precision")
    parser.add_argument("--tag", default="", help="results go to results/precision_<tag>.md")
    args = parser.parse_args(argv)
    rows, data = [], {}
    for model in args.models:
        a, ta = stage1(model, "float32", args.n)
        b, tb = stage1(model, "bfloat16", args.n)
        both = a["parse_ok"] & b["parse_ok"] & a["c_i"].notna() & b["c_i"].notna()
        d = (a["c_i"] - b["c_i"]).abs()[both]
        loss32 = final_loss(model, "fp32", a, args.steps)
        loss16 = final_loss(model, "bf16", a, args.steps)
        row = {"model": model, "n": args.n, "letters_equal": int((a["letter"] == b["letter"]).sum()),
               "parse_fp32": 100 * float(a["parse_ok"].mean()), "parse_bf16": 100 * float(b["parse_ok"].mean()),
               "max_dci": float(d.max()), "median_dci": float(np.median(d)), "loss_fp32": loss32,
               "loss_bf16": loss16, "s_fp32": ta, "s_bf16": tb, "speedup": ta / tb}
        data[model] = row
        rows.append([model, f"{row['letters_equal']}/{args.n}", f"{row['parse_fp32']:.0f} / {row['parse_bf16']:.0f}",
                     row["max_dci"], row["median_dci"], f"{loss32:.4f} / {loss16:.4f}",
                     f"{ta:.1f} / {tb:.1f}", f"{ta / tb:.2f}x"])
    text = (f"Stage 1 on {args.n} OpenBookQA questions (offline copy, 3-shot, batch 8) in float32 and in "
            f"bfloat16, then {args.steps} DPO steps of 2 pairs (the float32 run's pairs, LoRA dropout 0) in "
            "each precision.\n\n" + table(
                ["model", "same letter", "parsed % fp32 / bf16", "max abs ΔC_i (pp)", "median abs ΔC_i (pp)",
                 "final DPO loss fp32 / bf16", "stage 1 s fp32 / bf16", "bf16 speed-up"], rows))
    report(tagged("precision", args.tag), "bfloat16 vs float32 on the CPU", text, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
