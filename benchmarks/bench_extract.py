"""1a. C_i extraction: ``dca.extract.confidence.internal_confidence`` vs lm-evaluation-harness ``loglikelihood``.

Both score the same strings: context = rendered prompt + the reply up to the letter (``... Answer: ``),
continuation = one option letter; one lm-eval request per option letter (lm-eval groups requests with
the same context, so it runs one forward per question, as we do). The table reports questions/s, the
ratio to lm-eval at its best batch size, and the largest absolute difference of the letter
probabilities (``exp(loglikelihood)`` vs ``c_i / 100``; and the option-renormalised ``c_i_norm``).

Same tokens: lm-eval moves the context's trailing space into the continuation and encodes
``context + continuation`` (no BOS is added: the prompt starts with SmolLM2's BOS ``<|im_start|>``, and
its tokenizer adds none anyway); :func:`dca.extract.confidence.letter_token_ids` does the same. The script
checks, query by query, that the context tokens and the letter token are identical. Beside lm-eval
and dca as it runs (each batch's contexts packed into one row, :func:`dca.extract.prefix.pack_batch`), the
variant with the contexts left-padded (``pack=False``, how the pass ran before) shows what packing
gives.

``python benchmarks/bench_extract.py --n 32 --repeats 2``
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved, legacy_prefix_cache, model_options, report, table, tagged, workload  # noqa: E402


def lm_eval_scores(hflm, queries, batch_size: int) -> list[tuple[float, float]]:
    """(p(emitted letter), p normalised over the options) per query, from lm-eval's loglikelihood."""
    from lm_eval.api.instance import Instance

    requests, spans = [], []
    for q in queries:
        start = len(requests)
        for letter in q.options:
            requests.append(Instance("loglikelihood", doc={}, arguments=(q.context, letter), idx=len(requests)))
        spans.append((start, q.options.index(q.letter)))
    hflm.batch_size_per_gpu = batch_size
    out = hflm.loglikelihood(requests, disable_tqdm=True)
    scores = []
    for (start, k), q in zip(spans, queries):
        probs = [math.exp(out[start + j][0]) for j in range(len(q.options))]
        scores.append((probs[k], probs[k] / sum(probs)))
    return scores


def same_tokens(hflm, tokenizer, queries) -> int:
    """How many queries lm-eval and dca tokenize identically (context ids and letter id)."""
    from dca.extract.confidence import letter_token_ids

    same = 0
    for q in queries:
        ctx_lm, cont_lm = hflm._encode_pair(q.context, q.letter)
        ctx, ids = letter_token_ids(tokenizer, q.context, q.options)
        same += int(ctx_lm == ctx and cont_lm == [ids[q.letter]])
    return same


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32, help="questions")
    ap.add_argument("--k-shot", type=int, default=3, help="worked examples in the prompt (pipeline default 3)")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats (best time kept)")
    ap.add_argument("--lm-eval-batch-sizes", default="1,4,8,16")
    ap.add_argument("--batch-size", type=int, default=16, help="our batch size (the pipeline default)")
    ap.add_argument("--no-bf16", action="store_true", help="skip the bf16 (AMX) variant")
    ap.add_argument("--peers-only", action="store_true",
                    help="only lm-eval and dca now, in --dtype (for a large model: the other variants are "
                         "the first round's before/after figures)")
    model_options(ap)
    args = ap.parse_args(argv)

    import torch
    from lm_eval.models.huggingface import HFLM

    from dca.extract.confidence import internal_confidence
    from dca.models.loading import load_model, resolve_model_path

    work = workload(args.n, k_shot=args.k_shot, model=args.model, dtype=args.dtype, dataset=args.dataset,
                    batch_size=8)
    queries = [q for q in work.queries if q is not None]
    n = len(queries)
    hflm = HFLM(pretrained=resolve_model_path(args.model), batch_size=8, device="cpu", dtype=args.dtype)
    identical = same_tokens(hflm, work.tokenizer, queries)

    def ours(model=work.model, **kw):
        return lambda: internal_confidence(model, work.tokenizer, queries, batch_size=args.batch_size,
                                           progress=False, **kw)

    def legacy():
        with legacy_prefix_cache():
            return internal_confidence(work.model, work.tokenizer, queries, batch_size=args.batch_size,
                                       progress=False)

    # lm-eval's batch size: one timed pass each, then the best one goes into the interleaved runs.
    sweep, sweep_scores = {}, {}
    for bs in [int(b) for b in args.lm_eval_batch_sizes.split(",")]:
        best, last = interleaved({f"lm-eval bs={bs}": lambda bs=bs: lm_eval_scores(hflm, queries, bs)}, repeats=1)
        sweep[bs], sweep_scores[bs] = best[f"lm-eval bs={bs}"], last[f"lm-eval bs={bs}"]
    best_bs = min(sweep, key=sweep.get)
    # lm-eval against itself: the same model and dtype at another batch size pads and blocks the products
    # differently, so its rounding moves too; a difference to dca below this spread is rounding, not a bug
    own_spread = {bs: max(abs(a[0] - b[0]) for a, b in zip(sweep_scores[best_bs], scores))
                  for bs, scores in sweep_scores.items()}

    precision = "bf16" if args.dtype == "bfloat16" else "fp32"
    variants = {f"lm-eval HFLM loglikelihood, bs={best_bs}": lambda: lm_eval_scores(hflm, queries, best_bs)}
    if not args.peers_only:
        variants["dca before the first speed-up round (prefix cache deep-copied per batch)"] = legacy
        variants["dca, no shared prefix"] = ours(share_prefix=False)
    variants[f"dca, contexts left-padded instead of packed ({precision})"] = ours(pack=False)
    variants[f"dca now ({precision})"] = ours()
    if not args.no_bf16 and not args.peers_only and args.dtype == "float32":
        bf16 = load_model(args.model, device="cpu", dtype="bfloat16").model
        variants["dca now, bf16 (AMX)"] = ours(model=bf16)
    times, results = interleaved(variants, repeats=args.repeats)

    ref_name = next(iter(variants))
    ref = results[ref_name]
    rows, data_rows = [], []
    for name, secs in times.items():
        if name == ref_name:
            err = err_norm = 0.0
        else:
            err = max(abs(r[0] - s.c_i / 100) for r, s in zip(ref, results[name]))
            err_norm = max(abs(r[1] - s.c_i_norm / 100) for r, s in zip(ref, results[name]))
        rows.append([name, n / secs, times[ref_name] / secs, err, err_norm])
        data_rows.append({"variant": name, "seconds": secs, "questions_per_s": n / secs,
                          "ratio_vs_lm_eval": times[ref_name] / secs, "max_abs_diff_p": err,
                          "max_abs_diff_p_norm": err_norm})
    sweep_rows = [[f"lm-eval bs={bs}", n / s, own_spread[bs]] for bs, s in sweep.items()]
    prompt_tokens = sum(len(work.tokenizer(q.context, add_special_tokens=False)["input_ids"]) for q in queries) / n
    text = (
        f"{args.model} in {args.dtype}; {n} questions ({args.dataset}, seed 0), {args.k_shot}-shot prompt, "
        f"mean context {prompt_tokens:.0f} tokens; "
        f"our batch size {args.batch_size}; best of {args.repeats} interleaved runs. Identical tokens "
        f"(context and letter) in lm-eval and dca: {identical}/{n}. Differences are to lm-eval's probabilities "
        f"(same dtype).\n\n"
        + table(["variant", "questions/s", "× lm-eval", "max |Δp| letter", "max |Δp| normalised"], rows)
        + f"\n\nlm-eval batch-size sweep (one pass each), and lm-eval against itself: the largest |Δp| of the "
        f"letter between each batch size and bs={best_bs} (the same model and dtype; only the batch shape differs):\n\n"
        + table(["lm-eval", "questions/s", f"max |Δp| to lm-eval bs={best_bs}"], sweep_rows)
    )
    data = {"model": args.model, "dtype": args.dtype, "dataset": args.dataset, "n": n, "k_shot": args.k_shot, "identical_tokens": identical, "lm_eval_sweep_qps":
            {str(bs): n / s for bs, s in sweep.items()}, "best_lm_eval_batch_size": best_bs,
            "lm_eval_own_max_abs_diff_p": {str(bs): d for bs, d in own_spread.items()}, "rows": data_rows,
            "torch_threads": torch.get_num_threads()}
    report(tagged("extract", args.tag), "1a. C_i extraction vs lm-evaluation-harness", text, data)
    return data


if __name__ == "__main__":
    main()
