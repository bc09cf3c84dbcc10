"""The held-out DPO measurement: TRL's way against the reference computed once.

During training the book measures the DPO loss on held-out pairs before the first step and every
quarter. TRL's evaluation runs the reference (adapter off) and the policy over the held-out pairs at
every measurement; ``dca.train.stage.heldout_reference_once`` stores the reference's log-probabilities once,
and the held-out batches hold ``batch_size x grad_accum`` pairs (no backward, so no activations kept).
This script builds the trainer of a run folder's training stage (default profile parameters, the
run's pairs) and times ``trainer.evaluate()`` three ways, interleaved, on the untrained adapter:

- TRL's way: reference at every measurement, held-out batch = the training batch (2 pairs);
- the reference at every measurement, held-out batches of 4;
- the reference once (its one-off cost reported apart), held-out batches of 4.

``python benchmarks/bench_heldout_eval.py --run-dir runs/default`` (after ``make book``: it reads
``pairs.jsonl`` and ``pairs_heldout.jsonl`` there and writes nothing into it)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved, report, table  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default="runs/default", help="a run folder holding pairs.jsonl and pairs_heldout.jsonl")
    ap.add_argument("--profile", default="default", help="the profile whose training parameters are used")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)

    import tempfile

    from dca.cli import stage_parameters
    from dca.models.loading import load_base_model
    from dca.runs import artifacts
    from dca.train import dpo_prefix
    from dca.train.stage import (
        TrainConfig,
        dpo_args,
        dpo_trainer_class,
        heldout_records,
        heldout_reference_once,
        lora_config,
        pairs_dataset,
        resolve_precision,
    )

    values = stage_parameters(["train"], {"profile": args.profile, "run_dir": args.run_dir})["train"]
    cfg = TrainConfig.from_dict(values)
    out = tempfile.TemporaryDirectory(prefix="dca-heldout-")  # checkpoints would go here; none are written
    precision = resolve_precision(cfg.precision)
    run = artifacts.RunFolder(args.run_dir)
    records = artifacts.read_jsonl(run.require("pairs"))
    heldout = heldout_records(cfg, run.path)
    if not heldout:
        raise SystemExit(f"{run.pairs_heldout} is missing or the profile's heldout_pairs is 0: run notebook 02 first")
    tok, base = load_base_model(cfg.model, precision)
    lora = lora_config(cfg, base)
    targs = dpo_args(cfg, precision, 1, eval_steps=1)
    targs.output_dir, targs.disable_tqdm = out.name, True
    trainer = dpo_trainer_class()(model=base, ref_model=None, args=targs, train_dataset=pairs_dataset(records),
                                  eval_dataset=pairs_dataset(heldout), processing_class=tok, peft_config=lora)
    dpo_prefix.install(trainer.model.get_base_model())
    plain = trainer.eval_dataset
    start = time.perf_counter()
    heldout_reference_once(trainer)
    once_s = time.perf_counter() - start
    cached = trainer.eval_dataset

    train_batch, step_batch = cfg.batch_size, cfg.batch_size * cfg.grad_accum
    variants = {
        f"TRL: reference at every measurement, batch {train_batch}": (plain, train_batch),
        f"reference at every measurement, batch {step_batch}": (plain, step_batch),
        f"reference once, batch {step_batch} (now)": (cached, step_batch),
    }

    def measurement(dataset, batch):
        def run():
            trainer.eval_dataset, trainer.args.per_device_eval_batch_size = dataset, batch
            metrics = trainer.evaluate()
            return metrics["eval_loss"], metrics["eval_logps/chosen"]
        return run

    best, losses = interleaved({name: measurement(*v) for name, v in variants.items()}, repeats=args.repeats)
    out.cleanup()
    first = next(iter(variants))
    n_meas = 5  # the book's default: before the first step and every quarter
    rows = [[name, best[name], best[first] / best[name], losses[name][0], losses[name][1]] for name in variants]
    total_old = n_meas * best[first]
    total_new = once_s + n_meas * best[list(variants)[-1]]
    text = (
        f"{cfg.model}, {precision}; {len(heldout)} held-out pairs of `{args.run_dir}`, untrained adapter; "
        f"best of {args.repeats} interleaved runs. The reference once: {once_s:.1f} s, one-off. Over the "
        f"book's {n_meas} measurements: {total_old:.0f} s TRL's way, {total_new:.0f} s now.\n\n"
        + table(["held-out measurement", "seconds", "× TRL's way", "DPO loss", "mean log p(chosen)"], rows)
        + "\n\nThe log-probabilities differ in the third significant digit between batch sizes: bf16 rounding "
        "with other batch shapes (the loss is ln 2 at the untrained adapter either way)."
    )
    data = {"model": cfg.model, "precision": precision, "heldout_pairs": len(heldout), "reference_once_s": once_s,
            "rows": [{"variant": r[0], "seconds": r[1], "speedup": r[2], "eval_loss": r[3], "logps_chosen": r[4]}
                     for r in rows], "measurements": n_meas, "total_trl_s": total_old, "total_now_s": total_new}
    report("heldout_eval", "Held-out DPO measurement: the reference once", text, data)
    return data


if __name__ == "__main__":
    main()
