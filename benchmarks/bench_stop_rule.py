"""1c. Stopping a reply once it is complete, and what a confidence adapter costs.

Generation now ends a row as soon as its reply is complete (``dca.extract.parsing.reply_complete``:
the answer letter, then the confidence with its percent sign). This benchmark asks the same prompts
with and without that rule and reports the time, the tokens generated and whether every reply reads
the same letter and number (it must: text after a complete reply cannot change either). It also times
``dca.evaluate.confidence_adapter.state_confidence`` (the adapter writes only the number after the
base model's reply head; here with the base model standing in for the adapter, which costs the same)
against asking the questions again, which is what evaluating an adapter otherwise costs, and the
expected readout (``readout="expected"``: the mean of 0-100 under the model's distribution after the
head, ``dca.evaluate.expected_number.expected_numbers``) batched on the shared prefix, as the stages run
it, against one context at a time with no shared prefix (the values must agree to rounding).

``python benchmarks/bench_stop_rule.py --model gemma-3-270m --n 16 --k-shot 0 --max-new-tokens 16``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved, model_options, report, table, tagged, workload  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="questions")
    ap.add_argument("--k-shot", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="interleaved repeats (best time kept)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    model_options(ap)
    args = ap.parse_args(argv)

    import pandas as pd

    from dca.evaluate.confidence_adapter import reply_head, state_confidence
    from dca.evaluate.expected_number import expected_numbers
    from dca.extract.elicit import generate_replies
    from dca.extract.parsing import parse_confidence, parse_letter
    from dca.extract.stage import extract_table

    work = workload(args.n, k_shot=args.k_shot, replies=False, model=args.model, dtype=args.dtype,
                    dataset=args.dataset)
    m, tok, prompts = work.model, work.tokenizer, work.prompts

    def ask(stop: bool):
        return lambda: generate_replies(m, tok, prompts, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                                        progress=False, stop_when_complete=stop)

    times, results = interleaved({"runs to max_new_tokens or EOS": ask(False), "stops once complete": ask(True)},
                                 repeats=args.repeats)
    full, cut = results.values()

    def reading(reply: str) -> tuple:
        conf = parse_confidence(reply)
        return parse_letter(reply, "ABCDEFGHIJ").letter, str(conf.value), conf.reason

    same = sum(reading(a) == reading(b) for a, b in zip(full, cut))
    tokens = [sum(len(tok(r, add_special_tokens=False)["input_ids"]) for r in replies) for replies in (full, cut)]
    rows = [[name, secs, args.n / secs, n_tok / args.n] for (name, secs), n_tok in zip(times.items(), tokens)]

    base = extract_table(m, tok, work.questions, ["eval"] * args.n, k_shot=args.k_shot, batch_size=args.batch_size,
                         max_new_tokens=args.max_new_tokens, progress=False)
    heads = [p + reply_head(r, int(s)) for p, r, s in zip(base["prompt"], base["response"], base["cv_start"]) if s >= 0]
    cost, costed = interleaved({
        "ask again (an adapter's whole replies)": lambda: extract_table(
            m, tok, work.questions, ["eval"] * args.n, k_shot=args.k_shot, batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens, progress=False),
        "state the number after the base reply's head": lambda: state_confidence(
            m, tok, base, batch_size=args.batch_size, progress=False),
        "state the expected number (batched, shared prefix)": lambda: expected_numbers(
            m, tok, heads, batch_size=args.batch_size, progress=False),
        "the expected number, one context at a time": lambda: expected_numbers(
            m, tok, heads, batch_size=1, share_prefix=False, progress=False)}, repeats=args.repeats)
    asked = int((base["cv_start"] >= 0).sum())
    batched, alone = costed["state the expected number (batched, shared prefix)"], costed["the expected number, one context at a time"]
    gap = max((abs(a[0] - b[0]) for a, b in zip(batched, alone)), default=0.0)
    agree = sum(round(a[0]) == round(b[0]) for a, b in zip(batched, alone))
    cost_rows = [[name, secs, args.n / secs] for name, secs in cost.items()]
    text = (f"{args.model} in {args.dtype}; {args.n} questions ({args.dataset}, seed 0), {args.k_shot}-shot prompt, "
            f"greedy, max_new_tokens={args.max_new_tokens}, batch size {args.batch_size}; best of {args.repeats}.\n\n"
            + table(["generation", "seconds", "questions/s", "tokens/reply"], rows)
            + f"\n\nReplies read alike (letter and number) with and without the rule: {same}/{args.n}.\n\n"
            + table(["evaluation of an adapter", "seconds", "questions/s"], cost_rows)
            + f"\n\nReplies with a number for the adapter to restate: {asked}/{args.n}. The expected number, batched "
            f"against one context at a time: largest difference {gap:.1e} points, the same whole number on "
            f"{agree}/{len(heads)}.\n")
    data = {"model": args.model, "dtype": args.dtype, "n": args.n, "stop": dict(times), "tokens": tokens,
            "same_reading": same, "adapter_cost": dict(cost), "restated": asked,
            "expected_gap": gap, "expected_same_whole": agree,
            "examples": pd.Series(full[:3]).tolist()}
    report(tagged("stop_rule", args.tag), "1c. Stopping complete replies; the cost of a confidence adapter", text, data)
    return data


if __name__ == "__main__":
    main()
