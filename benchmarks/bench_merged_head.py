"""A merged adapter's prefill with and without the contiguous output-projection input.

``dca.models.loading.load_model`` merges a trained adapter into the base weights, and PEFT leaves the merged
weights frozen. With frozen weights ``torch.matmul`` does not fold the sliced last-position hidden
state ``(batch, 1, d)`` into one product: it copies the ``vocab x d`` output projection once per row
(3.7 GB for 8 rows of Qwen2.5's head). ``dca.models.loading.contiguous_head_input`` hands the projection a
contiguous copy of the slice instead. This script times a prefill of ``batch x length`` random tokens
(last logits only) on the base model, on the merged model with the pre-hook removed (the behaviour
before) and on the merged model as loaded, interleaved, and checks the logits are identical.

``python benchmarks/bench_merged_head.py --adapter runs/default/adapter`` (after ``make book``)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved, report, table  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adapter", default="runs/default/adapter", help="a trained adapter folder (stage 3's output)")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--length", type=int, default=240)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import torch

    from dca.models.loading import load_model

    if not Path(args.adapter).exists():
        raise SystemExit(f"{args.adapter} is missing: run notebook 03 (or `python -m dca train`) first")
    base = load_model(args.model).model
    before = load_model(args.model, adapter=args.adapter).model
    before.get_output_embeddings()._forward_pre_hooks.clear()  # the merged model as it was loaded before
    now = load_model(args.model, adapter=args.adapter).model
    ids = torch.randint(100, 20000, (args.batch, args.length))

    def prefill(model):
        def run():
            with torch.inference_mode():
                return model(input_ids=ids, use_cache=False, logits_to_keep=1).logits
        return run

    names = {"base model": base, "merged, before (frozen head, sliced input)": before,
             "merged, now (contiguous head input)": now}
    times, results = interleaved({name: prefill(m) for name, m in names.items()}, repeats=args.repeats)
    same = bool(torch.equal(results["merged, before (frozen head, sliced input)"],
                            results["merged, now (contiguous head input)"]))
    ref = times["base model"]
    rows = [[name, secs, secs / ref] for name, secs in times.items()]
    text = (f"{args.model}, dtype auto; prefill of {args.batch} x {args.length} random tokens, last logits only; "
            f"adapter `{args.adapter}`; best of {args.repeats} interleaved runs. Logits of the two merged variants "
            f"identical: {same}.\n\n" + table(["model", "seconds", "× base"], rows))
    data = {"model": args.model, "batch": args.batch, "length": args.length, "seconds": times, "identical_logits": same}
    report("merged_head", "A merged adapter's prefill: the output projection's input", text, data)
    return data


if __name__ == "__main__":
    main()
