"""Fusing the element-wise work of a prefill: eager against ``torch.compile`` of each decoder layer's
MLP (SiLU(gate) * up fused around the matrix products) and, in a second variant, its RMSNorms too.

A profile of one prefill of the 1.5B model spends about a fifth of its time in element-wise bf16
operations (SiLU, products, RMSNorm) between the matrix products; inductor fuses them into one C++
loop each. The prefill is a batch of 8 rows of 240 random tokens, last position's logits only; the
variants run interleaved, the compile time (first call) reported apart.

``python benchmarks/bench_fusion.py [--model qwen2.5-coder-1.5b] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, table  # noqa: E402

PARTS = {"MLP": ("mlp",), "MLP + RMSNorms": ("mlp", "input_layernorm", "post_attention_layernorm")}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--length", type=int, default=240)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    import torch

    from dca.models.loading import load_model

    torch.manual_seed(0)
    model = load_model(args.model, device="cpu", dtype="bfloat16").model.eval()
    ids = torch.randint(100, 20000, (args.batch, args.length))
    eager = {(i, name): getattr(layer, name).forward for i, layer in enumerate(model.model.layers)
             for name in PARTS["MLP + RMSNorms"]}

    def use(parts: tuple[str, ...], compiled: dict) -> None:
        for (i, name), forward in eager.items():
            module = getattr(model.model.layers[i], name)
            if name in parts:
                compiled.setdefault((i, name), torch.compile(forward, dynamic=False))
                module.forward = compiled[(i, name)]
            else:
                module.forward = forward

    def prefill() -> torch.Tensor:
        with torch.inference_mode():
            return model(input_ids=ids, logits_to_keep=1, use_cache=False).logits.float()

    use((), {})
    reference = prefill()
    variants = {"eager": ((), {})}
    compile_s, diff = {}, {}
    for label, parts in PARTS.items():
        compiled: dict = {}
        use(parts, compiled)
        start = time.perf_counter()
        out = prefill()
        compile_s[label] = time.perf_counter() - start
        diff[label] = float((out - reference).abs().max())
        variants[f"compiled {label}"] = (parts, compiled)
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (parts, compiled) in variants.items():
            use(parts, compiled)
            start = time.perf_counter()
            prefill()
            times[name].append(time.perf_counter() - start)
    use((), {})
    best0, med0 = min(times["eager"]), statistics.median(times["eager"])
    rows = []
    for name, ts in times.items():
        label = name.removeprefix("compiled ")
        rows.append([name, min(ts), statistics.median(ts), best0 / min(ts), med0 / statistics.median(ts),
                     compile_s.get(label, 0.0), diff.get(label, 0.0)])
    text = (f"{args.model} in bf16; prefill of {args.batch} x {args.length} random tokens, last logits only; "
            f"{args.repeats} interleaved runs.\n\n"
            + table(["variant", "best s", "median s", "× eager (best)", "× eager (median)", "compile + first call s",
                     "max |Δ logit|"], rows))
    data = {"model": args.model, "batch": args.batch, "length": args.length, "times": times,
            "compile_s": compile_s, "max_abs_logit_diff": diff}
    report("fusion", "Fusing the prefill's element-wise work with torch.compile", text, data)
    return data


if __name__ == "__main__":
    main()
