"""Reply parser under fuzzing: replies per second and the slowest reply of a seeded fuzz run.

Each reply joins random fragments of well-formed replies (keywords, numbers, ``%``, letters) with
adversarial runs: whitespace, ASCII and Unicode digits, minus signs, dots, repeated keywords, up to
``--max-run`` characters each. Every reply is parsed for its letter and its confidence, as stage 1
does. A single timing on a busy machine can catch the scheduler (a one-character reply "taking"
8 ms), so the 20 slowest replies of the pass are timed again, best of 5, and the slowest of those is
reported with its length and its first characters, next to the single-pass maximum.

``python benchmarks/bench_parse.py --n 100000``
"""

from __future__ import annotations

import argparse
import random
import time

from dca.extract.parsing import parse_confidence, parse_letter

FRAGMENTS = ("Probability", "probability", "Confidence", " of being correct", " is", ":", "=", "%",
             " percent", "Answer", "answer", "(", ")", ".", "-", "\u2212", "0.", "1", "80", "100", "\n",
             "A", "B", "E", " days")
RUN_CHARS = (" ", "\t", "\n", "0", "9", "\u0663", "\uff15", "-", "\u2212", ".", "%")
REPEATED = ("probability ", "Answer is ", "1.", "% ")


def fuzz_reply(rng: random.Random, max_run: int) -> str:
    """One adversarial reply: up to 12 pieces, each a fragment, a character run or a repeated keyword."""
    pieces = []
    for _ in range(rng.randint(0, 12)):
        kind = rng.random()
        if kind < 0.6:
            pieces.append(rng.choice(FRAGMENTS))
        elif kind < 0.9:
            pieces.append(rng.choice(RUN_CHARS) * rng.randint(1, max_run))
        else:
            pieces.append(rng.choice(REPEATED) * rng.randint(1, max_run // 10 + 1))
    return "".join(pieces)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="replies to parse")
    ap.add_argument("--max-run", type=int, default=2_000, help="longest adversarial run, in characters")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    replies = [fuzz_reply(rng, args.max_run) for _ in range(args.n)]
    timings = []
    start = time.perf_counter()
    for reply in replies:
        timings.append(parse_time(reply))
    total = time.perf_counter() - start
    candidates = sorted(range(args.n), key=timings.__getitem__)[-20:]
    retimed = {i: min(parse_time(replies[i]) for _ in range(5)) for i in candidates}
    worst = max(retimed, key=retimed.__getitem__)
    out = {"replies": args.n, "replies_per_s": round(args.n / total),
           "mean_chars": round(sum(map(len, replies)) / args.n), "max_chars": max(map(len, replies)),
           "single_pass_max_ms": round(max(timings) * 1000, 3), "slowest_ms": round(retimed[worst] * 1000, 3),
           "slowest_chars": len(replies[worst])}
    print(f"{out['replies']} replies (mean {out['mean_chars']}, longest {out['max_chars']} characters): "
          f"{out['replies_per_s']} replies/s; slowest reply {out['slowest_ms']} ms best of 5 "
          f"({out['slowest_chars']} characters, starts {replies[worst][:30]!r}); single-pass maximum "
          f"{out['single_pass_max_ms']} ms")
    return out


def parse_time(reply: str) -> float:
    """Seconds to parse one reply's letter and confidence."""
    t0 = time.perf_counter()
    parse_letter(reply, "ABCD")
    parse_confidence(reply)
    return time.perf_counter() - t0

if __name__ == "__main__":
    main()
