"""``python -m dca.reference.study run|list|collect|diagnose``: the objectives study's command line.

A module of its own because ``collect`` and ``diagnose`` need :mod:`dca.reference.study_results`, which
reads the job table of :mod:`dca.reference.study`: the table does not import what reads it.
``run --only NAME ... [--until pairs|train]`` runs jobs, or their first stages (see the study's docstring).
"""

from __future__ import annotations

from dca.paths import at_root
from dca.reference.study import JOBS, RUNS, describe, is_finished, is_finished_until, job, run_job
from dca.reference.study import __doc__ as STUDY_DOC


def main(argv: list[str] | None = None) -> int:
    """``python -m dca.reference.study``: run, list, collect or diagnose, from the repository root
    (where ``runs/study`` is) wherever it is started."""
    with at_root():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    from dca.reference.runner import experiment_parser

    parser, sub = experiment_parser("python -m dca.reference.study", STUDY_DOC,
                                    "write book/data/study_*.csv from the finished jobs")
    diag = sub.add_parser("diagnose", help="next-token tables at the number's positions of finished jobs "
                                           "(added to the committed table; other jobs' rows kept)")
    diag.add_argument("jobs", nargs="+")
    diag.add_argument("--n", type=int, default=6)
    sub.choices["run"].add_argument("--until", choices=("pairs", "train"),
                                    help="stop each job after this stage (its adapter for a readout job, "
                                         "when the objective's rows are committed); no record appended")
    args = parser.parse_args(argv)
    if args.cmd == "collect":
        from dca.reference.runner import report_collected
        from dca.reference.study_results import collect

        return report_collected(lambda: collect(only=args.only), RUNS)
    if args.cmd == "diagnose":
        from dca.reference.diagnosis import main as diagnose
        from dca.reference.study_results import NUMBER_TOKENS

        return diagnose([str(job(n).run_dir) for n in args.jobs]
                        + ["--n", str(args.n), "--out", str(NUMBER_TOKENS), "--keep-others"])
    if args.cmd == "list":
        for j in JOBS:
            what = describe(j)
            print(f"{j.name:18s} {'done' if is_finished(j) else 'todo':5s} {what} {j.params or ''}")
        return 0
    from dca.reference.runner import run_in_order

    return run_in_order(args.only, JOBS, job, lambda j: is_finished_until(j, args.until),
                        lambda j: run_job(j, until=args.until), RUNS, "study")
