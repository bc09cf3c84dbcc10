"""Shared helpers of the benchmarks: the workload, interleaved timing, the code paths before the first speed-up round, tables.

Timings on a shared machine are noisy, so every comparison is measured side by side in one process:
the variants run interleaved (A, B, C, A, B, C, ...) ``repeats`` times and the best (smallest) time of
each is kept. Ratios of best times are what the tables report.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import math
import os
import platform
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """One line describing this machine (CPU model, cores, torch threads)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"{gpu}, load avg {os.getloadavg()[0]:.1f} at start")


def today() -> str:
    return datetime.date.today().isoformat()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_gib() -> float:
    """This process's resident memory now, in GiB (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 2**20
    except (OSError, StopIteration):
        return 0.0


class RssSampler:
    """Largest resident memory (GiB) since the last :meth:`reset`, sampled every ``every`` seconds by a
    daemon thread (``ru_maxrss`` cannot be reset, so a part of a run needs sampling); a context manager.
    """

    def __init__(self, every: float = 0.05):
        import threading

        self.peak, self._every, self._done = 0.0, every, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self._every):
            self.peak = max(self.peak, rss_gib())

    def reset(self) -> None:
        self.peak = 0.0

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


# --------------------------------------------------------------------------------------------------
# Timing


def interleaved(variants: dict[str, Callable[[], Any]], repeats: int = 3) -> tuple[dict[str, float], dict[str, Any]]:
    """Run the variants interleaved ``repeats`` times; return ({name: best seconds}, {name: last result})."""
    best = {name: math.inf for name in variants}
    last: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            last[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, last


# --------------------------------------------------------------------------------------------------
# The workload: the pipeline's own prompts on the embedded model


@dataclass
class Workload:
    """Questions, rendered prompts, greedy replies and the C_i queries built from them."""

    model: Any
    tokenizer: Any
    questions: list
    prompts: list[str]
    replies: list[str] = field(default_factory=list)
    queries: list = field(default_factory=list)


def workload(n: int, *, k_shot: int = 3, seed: int = 0, model: str = "embedded", dtype: str = "float32",
             replies: bool = True, batch_size: int = 16, dataset: str = "synthetic") -> Workload:
    """``n`` questions of ``dataset`` asked with the pipeline's prompt (k-shot), on the CPU in ``dtype``."""
    from dca.data import load_questions
    from dca.extract.confidence import query_from_reply
    from dca.extract.elicit import generate_replies
    from dca.extract.parsing import parse_letter
    from dca.extract.prompts import build_messages, render_prompt, supports_system_role
    from dca.models.loading import load_model

    loaded = load_model(model, device="cpu", dtype=dtype)
    tok = loaded.tokenizer
    questions = load_questions(dataset, n=n, seed=seed)
    system = supports_system_role(tok)
    prompts = [render_prompt(tok, build_messages(q.question, q.choices, context=q.context, k_shot=k_shot,
                                                 system=system)) for q in questions]
    work = Workload(loaded.model, tok, questions, prompts)
    if replies:
        work.replies = generate_replies(loaded.model, tok, prompts, batch_size=batch_size, progress=False)
        for q, p, r in zip(questions, prompts, work.replies):
            letter = parse_letter(r, q.letters)
            work.queries.append(query_from_reply(p, r, letter.start, letter.letter, q.letters) if letter.ok else None)
    return work


# --------------------------------------------------------------------------------------------------
# The code as it was before the first speed-up round (commit 9dd883c), for before/after figures


def _legacy_for_batch(self: Any, batch_size: int, reserve: int = 0) -> Any:
    if self.cache is None:
        return None
    cache = copy.deepcopy(self.cache)
    cache.batch_repeat_interleave(batch_size)
    return cache


@contextlib.contextmanager
def legacy_prefix_cache():
    """Inside: ``PrefixCache.for_batch`` deep-copies and repeats the prefix cache per batch (before the first speed-up round)."""
    from dca.extract.prefix import PrefixCache

    current = PrefixCache.for_batch
    PrefixCache.for_batch = _legacy_for_batch
    try:
        yield
    finally:
        PrefixCache.for_batch = current


# --------------------------------------------------------------------------------------------------
# Output


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    def cell(x: Any) -> str:
        if isinstance(x, float):
            if x == 0 or math.isnan(x):
                return f"{x:g}"
            if abs(x) < 1e-3:
                return f"{x:.1e}"
            return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
        return str(x)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def model_options(ap: Any, default_model: str = "embedded") -> None:
    """``--model``, ``--dtype``, ``--dataset`` and ``--tag`` (suffix of the results file) of a benchmark."""
    ap.add_argument("--model", default=default_model,
                    help="'embedded' (SmolLM2-135M), 'qwen2.5-coder-1.5b' or a local model folder")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--dataset", default="synthetic", help="questions: 'synthetic' or an offline set, e.g. openbookqa")
    ap.add_argument("--tag", default="", help="results go to results/<name>_<tag>.md (default: results/<name>.md)")


def tagged(name: str, tag: str) -> str:
    """The results file's name: ``name`` or ``name_tag``."""
    return f"{name}_{tag}" if tag else name


def report(name: str, title: str, text: str, data: dict[str, Any]) -> None:
    """Print a result block and save it as ``results/<name>.md`` and ``results/<name>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    head = f"## {title}\n\n{today()} · {machine()}\n\n"
    block = head + text.strip() + "\n"
    print("\n" + block, flush=True)
    (RESULTS / f"{name}.md").write_text(block)
    data = {"date": today(), "machine": machine(), **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
