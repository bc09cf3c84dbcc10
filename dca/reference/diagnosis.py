"""What the model puts at the confidence number's position, before and after training.

DPO sees a pair only through the few tokens where chosen and rejected differ: the number. This module
reads the model's next-token distribution at those positions. For one reply and the character span
of its number, :func:`number_positions` feeds the prompt and the reply up to each token of the number
(and the token after it) and returns the most probable next tokens with their probabilities: at the
first position, which first digit the model wants; after two digits, whether it wants ``%`` or a
decimal point (the "58.8%" replies).

``python -m dca.reference.diagnosis RUN_DIR [RUN_DIR ...] --n 6 --out FILE.csv`` writes these tables for the
first ``n`` held-out questions of each run, with the base model on its stage-1 reply and the trained
model (adapter merged) on its evaluation reply, one row per (run, question, model, position, rank).
``--keep-others`` keeps the rows the file already holds for runs not named (a later job added to it).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import pandas as pd

from dca.runs import artifacts

TOP_K = 5


def number_positions(model: Any, tokenizer: Any, prompt: str, reply: str, start: int, end: int,
                     top_k: int = TOP_K) -> list[dict[str, Any]]:
    """Top-``top_k`` next tokens at every token position of the number ``reply[start:end]`` and at the
    token after it, with the reply as written (teacher forcing).

    Returns one dict per (position, rank): ``position`` (0 = the number's first token), ``context``
    (the reply text before that position), ``token``, ``prob``, ``written`` (the token the reply has
    there) and ``written_prob`` (its probability).
    """
    import torch

    full = tokenizer(prompt + reply, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = full["input_ids"], full["offset_mapping"]
    base = len(prompt)
    # tokens that overlap the number (" 80" when the tokenizer merges the space), and the one after it
    inside = [i for i, (a, b) in enumerate(offsets) if b > base + start and a < base + end]
    if not inside:
        return []
    positions = inside + ([inside[-1] + 1] if inside[-1] + 1 < len(ids) else [])
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids], device=model.device)).logits[0].float()
    probs = torch.softmax(logits, dim=-1)  # (seq, vocab): probs[t] is the distribution of token t + 1
    rows = []
    for k, pos in enumerate(positions):
        dist = probs[pos - 1]
        top = torch.topk(dist, top_k)
        context = (prompt + reply)[base:offsets[pos][0]]
        for rank, (p, tok) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
            rows.append({"position": k, "context": context, "rank": rank + 1, "token": tokenizer.decode([tok]),
                         "prob": p, "written": tokenizer.decode([ids[pos]]), "written_prob": float(dist[ids[pos]])})
    return rows


def diagnose(run_dirs: list[str | Path], n: int = 6, top_k: int = TOP_K) -> pd.DataFrame:
    """The tables of :func:`number_positions` for the first ``n`` held-out questions whose replies
    parsed before and after, in each run, for the base model and the trained one."""
    from dca.models.loading import load_model

    frames = []
    for run_dir in run_dirs:
        run = artifacts.RunFolder(run_dir)
        stage1 = pd.read_parquet(run.require("stage1"))
        held = stage1[(stage1["split"] == "eval") & stage1["parse_ok"]].set_index("id")
        after = pd.read_parquet(run.require("eval"))
        after = after[after["parse_ok"]].set_index("id")
        ids = [i for i in held.index if i in after.index][:n]
        params = run.stage1_params()
        for label, table, adapter in (("before", held, None), ("after", after, run.require("adapter"))):
            loaded = load_model(params["model"], adapter=adapter)
            for qid in ids:
                row = table.loc[qid]
                for r in number_positions(loaded.model, loaded.tokenizer, row["prompt"], row["response"],
                                          int(row["cv_start"]), int(row["cv_end"]), top_k):
                    frames.append({"run": Path(run_dir).name, "id": qid, "model": label,
                                   "c_i": float(row["c_i"]), "round_c_i": int(math.floor(float(row["c_i"]) + 0.5)),
                                   "reply": row["response"], **r})
            del loaded
    return pd.DataFrame(frames)


def replace_runs(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``old`` with the rows of every run in ``new`` replaced by ``new``'s (other runs kept, first).

    >>> old = pd.DataFrame({"run": ["a", "b"], "prob": [0.1, 0.2]})
    >>> replace_runs(old, pd.DataFrame({"run": ["b", "c"], "prob": [0.3, 0.4]})).to_dict("list")
    {'run': ['a', 'b', 'c'], 'prob': [0.1, 0.3, 0.4]}
    """
    if old.empty:
        return new
    return pd.concat([old[~old["run"].isin(set(new["run"]))], new], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dca.reference.diagnosis", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+")
    parser.add_argument("--n", type=int, default=6, help="held-out questions per run")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--keep-others", action="store_true",
                        help="keep the rows --out already holds for runs not named here (default: overwrite)")
    args = parser.parse_args(argv)
    frame = diagnose(args.run_dirs, n=args.n)
    out = Path(args.out)
    if args.keep_others and out.exists():
        frame = replace_runs(pd.read_csv(out), frame)
    with artifacts.atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.5g")
    print(f"{len(frame)} rows written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
