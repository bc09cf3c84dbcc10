"""1b. Elicitation: ``dca.extract.elicit.generate_replies`` vs a one-question-at-a-time ``model.generate`` loop.

Both generate greedily, ``max_new_tokens=16``, from the same rendered prompts. The table reports
questions/s, the ratio to the loop, and how many replies are identical to the loop's.

``python benchmarks/bench_elicit.py --n 16 --repeats 2``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved, legacy_prefix_cache, model_options, report, table, tagged, workload  # noqa: E402


def one_at_a_time(model, tokenizer, prompts: list[str], max_new_tokens: int) -> list[str]:
    """The plain baseline: tokenize one prompt, ``generate``, decode; no batching, no shared prefix."""
    import torch

    replies = []
    with torch.inference_mode():
        for p in prompts:
            enc = tokenizer(p, return_tensors="pt", add_special_tokens=False)
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 temperature=None, top_p=None, top_k=None)
            replies.append(tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return replies


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="questions")
    ap.add_argument("--k-shot", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats (best time kept)")
    ap.add_argument("--batch-size", type=int, default=16, help="our batch size (the pipeline default)")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--peers-only", action="store_true", help="only the generate loop and dca now")
    model_options(ap)
    args = ap.parse_args(argv)

    from dca.extract.elicit import generate_replies

    work = workload(args.n, k_shot=args.k_shot, replies=False, model=args.model, dtype=args.dtype,
                    dataset=args.dataset)
    m, tok, prompts = work.model, work.tokenizer, work.prompts

    def ours(**kw):
        return lambda: generate_replies(m, tok, prompts, batch_size=args.batch_size,
                                        max_new_tokens=args.max_new_tokens, progress=False, **kw)

    def legacy():
        with legacy_prefix_cache():
            return ours()()

    variants = {"one question at a time (model.generate loop)": lambda: one_at_a_time(m, tok, prompts, args.max_new_tokens)}
    if not args.peers_only:
        variants["dca batched, no shared prefix"] = ours(share_prefix=False)
        variants["dca before the first speed-up round (prefix deep-copied, cache grown by cat)"] = legacy
    variants["dca now (prefix views + preallocated cache)"] = ours()
    times, results = interleaved(variants, repeats=args.repeats)
    base_name = next(iter(variants))
    base = results[base_name]
    rows, data_rows = [], []
    for name, secs in times.items():
        same = sum(a == b for a, b in zip(base, results[name]))
        rows.append([name, args.n / secs, times[base_name] / secs, f"{same}/{args.n}"])
        data_rows.append({"variant": name, "seconds": secs, "questions_per_s": args.n / secs,
                          "ratio_vs_loop": times[base_name] / secs, "identical_replies": same})
    text = (f"{args.model} in {args.dtype}; {args.n} questions ({args.dataset}, seed 0), {args.k_shot}-shot prompt, greedy, max_new_tokens="
            f"{args.max_new_tokens}, batch size {args.batch_size}; best of {args.repeats} interleaved runs.\n\n"
            + table(["variant", "questions/s", "× loop", "replies identical to loop"], rows))
    data = {"model": args.model, "dtype": args.dtype, "dataset": args.dataset, "n": args.n, "rows": data_rows}
    report(tagged("elicit", args.tag), "1b. Elicitation vs a one-question-at-a-time generate loop", text, data)
    return data


if __name__ == "__main__":
    main()
