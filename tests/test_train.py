"""Stage 3: DPO + LoRA with TRL on the tiny model: artifacts, skipping, determinism, resuming, and the
shared-prefix forward (dca.train.dpo_prefix) against TRL's full forward."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import warnings
from pathlib import Path

import pytest
import torch

from dca.cli import main
from dca.config import ConfigError
from dca.runs import artifacts
from dca.train import dpo_prefix
from dca.train.stage import ALL_LINEAR, TrainConfig, dpo_args, read_train_log, train_adapter


def write_pairs(run_dir: Path, n: int = 16, seed: int = 0) -> Path:
    """A small pairs.jsonl in TRL's conversational format (what dca.pairs writes)."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        c_v, c_i = rng.choice([80, 90, 95, 100]), rng.randint(5, 60)
        reply = "Answer: {}\nProbability: {}%"
        letter = "ABCD"[i % 4]
        records.append({
            "prompt": [{"role": "system", "content": "Answer with a letter and a probability."},
                       {"role": "user", "content": f"Question: What is {i} + 1?\nA) {i}\nB) {i + 1}\nC) {i + 2}"}],
            "chosen": [{"role": "assistant", "content": reply.format(letter, c_i)}],
            "rejected": [{"role": "assistant", "content": reply.format(letter, c_v)}],
            "id": f"q{i}", "c_v": float(c_v), "c_i_target": c_i, "correct": i % 2 == 0,
        })
    return artifacts.write_jsonl(run_dir / "pairs.jsonl", records)


def tiny_config(run_dir: Path, model_dir: Path, **kw) -> TrainConfig:
    values = dict(run_dir=str(run_dir), model=str(model_dir), max_steps=4, batch_size=2, save_steps=2,
                  logging_steps=1, max_length=128, learning_rate=5e-3, lora_r=4, lora_alpha=8,
                  precision="fp32")  # 'auto' is bf16 on CPUs with AMX / AVX512-BF16: keep tests exact
    values.update(kw)
    return TrainConfig.from_dict(values)


class Interrupt(Exception):
    """Stands for a kill (Ctrl-C, a lost machine) in the middle of training."""


def callback_at(step: int, action):
    from transformers import TrainerCallback

    class _Callback(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            action(state.global_step)

    return _Callback()


def losses(run_dir: Path) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in read_train_log(run_dir) if "loss" in row}


def test_config_defaults_help_and_validation():
    config = TrainConfig()
    assert config.target_modules == ALL_LINEAR and config.loss_type == "sigmoid" and config.beta == 0.1
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (16, 32, 0.05)
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata.get("help"), f.name
    assert TrainConfig.from_dict({"target_modules": "q_proj,v_proj"}).target_modules == ["q_proj", "v_proj"]
    assert TrainConfig.from_dict({"loss_type": "ipo"}).loss_type == "ipo"
    with pytest.raises(ConfigError, match="unknown parameter 'lr'"):
        TrainConfig.from_dict({"lr": 1e-4})
    with pytest.raises(ConfigError, match="loss_type"):
        TrainConfig.from_dict({"loss_type": "dpo"})
    with pytest.raises(ConfigError, match="warmup_ratio"):
        TrainConfig.from_dict({"warmup_ratio": 1.0})
    with pytest.raises(ConfigError, match="max_steps"):
        TrainConfig.from_dict({"max_steps": 0})


def test_dpo_args_on_cpu_are_fp32_and_honour_the_config(tmp_path):
    args = dpo_args(TrainConfig(run_dir=str(tmp_path), loss_type="ipo", precompute_ref=True), "fp32", 1)
    assert args.bf16 is False and args.fp16 is False  # TRL would default to bf16=True even on a CPU
    assert args.loss_type == ["ipo"] and args.beta == 0.1 and args.activation_checkpointing is False
    assert args.disable_dropout is False and args.precompute_ref_log_probs is True
    assert args.output_dir == str(tmp_path / "checkpoints") and args.report_to in ([], "none", ["none"])
    assert args.warmup_steps == 0.1 and args.lr_scheduler_type == "cosine"
    assert dpo_args(TrainConfig(precompute_ref=True), "fp32", 2).precompute_ref_log_probs is False


def test_missing_pairs_names_the_notebook(tmp_path):
    with pytest.raises(artifacts.MissingArtifactError, match="02_preference_pairs"):
        train_adapter(TrainConfig(run_dir=str(tmp_path)))


def test_cli_rejects_unknown_parameter(capsys):
    assert main(["train", "nope=1"]) == 2
    assert "unknown parameter 'nope'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    """One finished 4-step run on the tiny model (shared by the tests below)."""
    run_dir = tmp_path_factory.mktemp("run_a")
    write_pairs(run_dir)
    config = tiny_config(run_dir, tiny_model_dir)
    return config, train_adapter(config)


def test_artifacts_are_written(trained):
    config, adapter = trained
    run_dir = Path(config.run_dir)
    assert adapter == run_dir / "adapter"
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    adapter_config = json.loads((adapter / "adapter_config.json").read_text())
    assert adapter_config["r"] == 4 and set(adapter_config["target_modules"]) == set(ALL_LINEAR)
    prov = artifacts.read_json(artifacts.provenance_path(adapter))
    assert prov["world_size"] == 1 and prov["global_step"] == 4 and prov["precision"] == "fp32"
    assert prov["n_pairs"] == 16 and prov["resumed_from"] is None
    from safetensors import safe_open

    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as weights:
        lora_layers = sum(1 for key in weights.keys() if "lora_A" in key)
    assert prov["packed_dropout_layers"] == lora_layers > 0  # dca.train.lora_dropout drew every layer's masks
    assert TrainConfig.from_dict(artifacts.read_json(run_dir / "train_config.json")) == config
    log = read_train_log(run_dir)
    steps = [row for row in log if "loss" in row]
    assert [row["step"] for row in steps] == [1, 2, 3, 4]
    for key in ("loss", "rewards/chosen", "rewards/margins", "rewards/accuracies", "learning_rate"):
        assert all(math.isfinite(row[key]) for row in steps), key
    assert steps[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)  # LoRA starts as the identity


def test_adapter_loads_and_changes_the_model(trained, tiny_model_dir):
    import torch

    from dca.models.loading import load_model

    config, adapter = trained
    base = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    tuned = load_model(str(tiny_model_dir), device="cpu", dtype="float32", adapter=adapter)
    ids = base.tokenizer("Answer: B\nProbability: 37%", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert not torch.allclose(base.model(ids).logits, tuned.model(ids).logits)


def test_finished_run_is_skipped(trained):
    config, adapter = trained
    stamp = (adapter / "adapter_model.safetensors").stat().st_mtime_ns
    assert train_adapter(config) == adapter
    assert (adapter / "adapter_model.safetensors").stat().st_mtime_ns == stamp


def test_same_seed_same_losses(trained, tmp_path, tiny_model_dir):
    config, _ = trained
    write_pairs(tmp_path)
    train_adapter(tiny_config(tmp_path, tiny_model_dir))
    assert losses(tmp_path) == losses(Path(config.run_dir))


def interrupt_at_step_3(run_dir: Path, model_dir: Path) -> None:
    """Start a tiny training run and interrupt it at step 3 (after the step-2 checkpoint)."""
    def kill(step):
        if step == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_adapter(tiny_config(run_dir, model_dir), callbacks=[callback_at(3, kill)])


def test_interrupted_run_resumes_from_its_checkpoint(trained, tmp_path, tiny_model_dir):
    config, _ = trained
    write_pairs(tmp_path)

    interrupt_at_step_3(tmp_path, tiny_model_dir)
    assert (tmp_path / "checkpoints" / "checkpoint-2").is_dir() and not (tmp_path / "adapter").exists()

    seen: list[int] = []
    train_adapter(tiny_config(tmp_path, tiny_model_dir), callbacks=[callback_at(0, seen.append)])
    assert seen == [3, 4]  # continued from step 2, not from 0
    prov = artifacts.read_json(artifacts.provenance_path(tmp_path / "adapter"))
    assert prov["resumed_from"].endswith("checkpoint-2") and prov["global_step"] == 4
    # the resumed run is the uninterrupted one, step for step
    assert losses(tmp_path) == pytest.approx(losses(Path(config.run_dir)), rel=1e-5)


def test_incomplete_checkpoint_is_set_aside_and_loss_covers_all_steps(trained, tmp_path, tiny_model_dir):
    """A checkpoint half-written by a kill (no trainer_state.json) is renamed, the one before resumed;
    the provenance's final_train_loss is the mean over all 4 steps, as the uninterrupted run reports."""
    import shutil

    config, _ = trained
    write_pairs(tmp_path)
    interrupt_at_step_3(tmp_path, tiny_model_dir)
    half = tmp_path / "checkpoints" / "checkpoint-4"
    shutil.copytree(tmp_path / "checkpoints" / "checkpoint-2", half)
    (half / "trainer_state.json").unlink()

    seen: list[int] = []
    with pytest.warns(UserWarning, match="checkpoint-4 is incomplete"):
        train_adapter(tiny_config(tmp_path, tiny_model_dir), callbacks=[callback_at(0, seen.append)])
    assert seen == [3, 4] and (half / "trainer_state.json").exists()  # written anew, complete
    assert not list((tmp_path / "checkpoints").glob("incomplete-*"))  # set aside, then removed after success
    resumed = artifacts.read_json(artifacts.provenance_path(tmp_path / "adapter"))
    whole = artifacts.read_json(artifacts.provenance_path(Path(config.run_dir) / "adapter"))
    assert resumed["resumed_from"].endswith("checkpoint-2")
    assert resumed["final_train_loss"] == pytest.approx(whole["final_train_loss"], rel=1e-4)
    assert resumed["final_train_loss"] == pytest.approx(sum(losses(tmp_path).values()) / 4, rel=1e-4)


def test_a_checkpoint_with_a_truncated_optimizer_state_is_set_aside(trained, tmp_path, tiny_model_dir):
    """A checkpoint whose trainer_state.json reads but whose optimizer.pt was cut short: not resumed
    (the rerun would fail on it every time), set aside, and training completes from the start."""
    config, _ = trained
    write_pairs(tmp_path)
    interrupt_at_step_3(tmp_path, tiny_model_dir)
    optimizer = tmp_path / "checkpoints" / "checkpoint-2" / "optimizer.pt"
    with open(optimizer, "r+b") as fh:
        fh.truncate(optimizer.stat().st_size // 2)
    with pytest.warns(UserWarning, match="checkpoint-2 is incomplete"):
        train_adapter(tiny_config(tmp_path, tiny_model_dir))
    prov = artifacts.read_json(artifacts.provenance_path(tmp_path / "adapter"))
    assert prov["resumed_from"] is None and prov["global_step"] == 4
    assert losses(tmp_path) == pytest.approx(losses(Path(config.run_dir)), rel=1e-5)
    assert not list((tmp_path / "checkpoints").glob("incomplete-*"))


def test_checkpoints_fall_on_logging_steps():
    """A checkpoint between two logging steps would make the resumed run's next loss an average over
    fewer steps than the uninterrupted run's."""
    with pytest.raises(ConfigError, match="save_steps=3 must be a multiple of logging_steps=2"):
        TrainConfig.from_dict({"save_steps": 3, "logging_steps": 2})
    TrainConfig.from_dict({"save_steps": 4, "logging_steps": 2})


def test_a_checkpoints_folder_dca_did_not_write_is_not_deleted(tmp_path, tiny_model_dir):
    write_pairs(tmp_path)
    mine = tmp_path / "checkpoints" / "my-notes.txt"
    mine.parent.mkdir()
    mine.write_text("not dca's")
    with pytest.raises(ConfigError, match="not written by dca"):
        train_adapter(tiny_config(tmp_path, tiny_model_dir))
    assert mine.read_text() == "not dca's"


def test_other_parameters_do_not_resume(trained, tmp_path, tiny_model_dir):
    write_pairs(tmp_path)

    interrupt_at_step_3(tmp_path, tiny_model_dir)
    seen: list[int] = []
    train_adapter(tiny_config(tmp_path, tiny_model_dir, beta=0.5, max_steps=2),
              callbacks=[callback_at(0, seen.append)])
    assert seen == [1, 2]


def test_precomputed_reference_gives_the_same_losses(tmp_path, tiny_model_dir):
    """TRL's precompute_ref_log_probs: one adapter-off pass before training instead of one per step."""
    runs = {}
    for precompute in (False, True):
        run_dir = tmp_path / f"precompute-{precompute}"
        write_pairs(run_dir)
        # no dropout: the precomputing pass changes the random stream the dropout masks are drawn from
        train_adapter(tiny_config(run_dir, tiny_model_dir, precompute_ref=precompute, lora_dropout=0.0))
        runs[precompute] = losses(run_dir)
    # equal up to float noise: the reference pass pads its batches differently
    assert runs[True] == pytest.approx(runs[False], abs=1e-5)


# ---- shared-prefix DPO forward (dca.train.dpo_prefix) ----

FIELDS = ("log_probs", "entropy", "mean_logits", "is_top1")


def fused_lora_model(model_dir, seed: int = 0):
    """The tiny model with TRL's fused LM head and a LoRA adapter whose B matrices are not zero."""
    from peft import LoraConfig, get_peft_model
    from trl.trainer.utils import add_fused_lm_head

    from dca.models.loading import load_base_model
    from dca.train.stage import ALL_LINEAR

    _, base = load_base_model(str(model_dir), "fp32")
    add_fused_lm_head(base, outputs=FIELDS)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=ALL_LINEAR,
                                            task_type="CAUSAL_LM"))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)  # so that the gradients of lora_A are not all zero
    model.train()
    return model


def preference_batch(shared: int = 24, question: int = 3, pairs: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """TRL-collated pairs: a common prompt start, questions of different lengths (``question`` + 4 i
    tokens), replies of different lengths."""
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    rng = torch.Generator().manual_seed(seed)
    start = torch.randint(5, 500, (shared,), generator=rng).tolist()
    examples = []
    for i in range(pairs):
        asked = torch.randint(5, 500, (question + 4 * i,), generator=rng).tolist()
        reply = torch.randint(5, 500, (2 + i,), generator=rng).tolist()
        examples.append({"prompt_ids": start + asked, "chosen_ids": reply + [7],
                         "rejected_ids": reply[:-1] + [9, 11]})
    batch = DataCollatorForPreference(pad_token_id=0)(examples)
    batch["labels"] = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    return batch


def forward(model, batch):
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"],
                 fused_lm_head=True, use_cache=False)


def grads(model, out) -> dict[str, torch.Tensor]:
    model.zero_grad()
    (out.log_probs.sum() + 0.1 * out.entropy.sum()).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_shared_prefix_length_edge_cases():
    ids = torch.tensor([[1, 2, 3], [1, 2, 3]])
    ones = torch.ones_like(ids)
    none = torch.full_like(ids, -100)
    assert dpo_prefix.shared_prefix_length(ids, ones, none) == 2  # a column is left for the remainder
    assert dpo_prefix.shared_prefix_length(ids[:, :0], ones[:, :0], none[:, :0]) == 0
    assert dpo_prefix.shared_prefix_length(ids, ones, ids) == 0  # a label at the very start
    assert dpo_prefix.shared_prefix_length(ids, torch.tensor([[1, 1, 1], [0, 1, 1]]), none) == 0  # a pad
    assert dpo_prefix.pair_prompt_ends(ids, ones, none).tolist() == [2]  # one pair: all but the last column
    assert dpo_prefix.pair_prompt_ends(ids[:1], ones[:1], none[:1]) is None  # an odd number of rows


@pytest.mark.parametrize("shared, question", [(24, 3), (24, 0), (0, 30)],
                         ids=["prefix+pairs", "prefix-only", "pairs-only"])
def test_outputs_and_gradients_match_the_full_forward(tiny_model_dir, shared, question):
    model = fused_lora_model(tiny_model_dir)
    base = model.get_base_model()
    batch = preference_batch(shared=shared, question=question)
    expected = forward(model, batch)
    expected_grads = grads(model, expected)

    dpo_prefix.install(base)
    got = forward(model, batch)
    assert base.dca_shared_prefix_calls == 1
    assert base.dca_tokens_full == int(batch["attention_mask"].sum()) > base.dca_tokens_run > 0
    assert got.log_probs.shape == expected.log_probs.shape == (6, batch["input_ids"].shape[1] - 1)
    mask = batch["labels"][:, 1:] != -100
    assert torch.equal(got.label_mask, expected.label_mask)
    assert (got.log_probs[~mask] == 0).all()
    for field in ("log_probs", "entropy", "mean_logits"):
        torch.testing.assert_close(getattr(got, field)[mask], getattr(expected, field)[mask], atol=1e-5, rtol=1e-5)
    assert torch.equal(got.is_top1[mask], expected.is_top1[mask])
    torch.testing.assert_close(got.loss, expected.loss, atol=1e-6, rtol=1e-6)
    got_grads = grads(model, got)
    assert got_grads.keys() == expected_grads.keys() and any("lora_A" in n for n in got_grads)
    for name, g in got_grads.items():
        assert g.abs().max() > 0, name
        torch.testing.assert_close(g, expected_grads[name], atol=1e-5, rtol=1e-4, msg=name)

    with torch.no_grad(), model.disable_adapter():  # the reference pass of DPOTrainer
        ref_full = forward(model, batch).log_probs
    assert base.dca_shared_prefix_calls == 2
    base.dca_shared_prefix_ok = False  # forces the full forward
    with torch.no_grad(), model.disable_adapter():
        torch.testing.assert_close(ref_full, forward(model, batch).log_probs, atol=1e-5, rtol=1e-5)


def test_steps_aside_without_a_shared_prefix(tiny_model_dir):
    model = fused_lora_model(tiny_model_dir)
    base = dpo_prefix.install(model.get_base_model())
    short = preference_batch(shared=0, question=3)  # pairs share 3 + 7 + 11 prompt tokens: too few to bother
    one_row = {k: v[:1] for k, v in preference_batch().items()}
    for batch in (short, one_row):
        out = forward(model, batch)
        assert out.log_probs.shape == (batch["input_ids"].shape[0], batch["input_ids"].shape[1] - 1)
    assert base.dca_shared_prefix_calls == 0
    with torch.no_grad():  # a plain call (generation, evaluation) is TRL's/transformers' forward
        assert model(input_ids=short["input_ids"][:, :5]).logits.shape[:2] == (6, 5)
    base.activation_checkpointing_enable()
    model.train()
    forward(model, preference_batch())
    assert base.dca_shared_prefix_calls == 0  # checkpointed layers would drop the cache


@pytest.mark.parametrize("gradient_checkpointing", [False, True])
def test_training_losses_match_with_and_without_shared_prefix(tmp_path, tiny_model_dir, gradient_checkpointing):
    runs = {}
    for shared in (False, True):
        run_dir = tmp_path / f"shared-{shared}"
        write_pairs(run_dir, n=8)
        config = tiny_config(run_dir, tiny_model_dir, lora_dropout=0.0, shared_prefix=shared, max_steps=3,
                             gradient_checkpointing=gradient_checkpointing)
        adapter = train_adapter(config)
        prov = artifacts.read_json(artifacts.provenance_path(adapter))
        runs[shared] = (list(losses(run_dir).values()), prov["shared_prefix_forwards"])
        fraction = prov["shared_prefix_token_fraction"]
        assert (0 < fraction < 1) if shared else fraction is None
    (plain, plain_calls), (shared, shared_calls) = runs[False], runs[True]
    assert plain_calls == 0 and len(plain) == len(shared) == 3
    # policy + reference pass per step; with checkpointing only the reference pass shares the prefix
    assert shared_calls == (3 if gradient_checkpointing else 6)
    assert all(math.isclose(a, b, abs_tol=1e-4) for a, b in zip(plain, shared)), (plain, shared)


def test_packed_dropout_false_keeps_pefts_dropout_and_draws_other_masks(trained, tmp_path):
    config, _ = trained
    write_pairs(tmp_path)
    adapter = train_adapter(dataclasses.replace(config, run_dir=str(tmp_path), packed_dropout=False))
    assert artifacts.read_json(artifacts.provenance_path(adapter))["packed_dropout_layers"] == 0
    packed, plain = losses(Path(config.run_dir)), losses(tmp_path)
    assert packed[1] == plain[1] == pytest.approx(math.log(2), abs=1e-4)  # LoRA starts as the identity
    assert packed[4] != plain[4] and all(math.isfinite(v) for v in plain.values())  # other masks, other steps


def test_sft_baseline_trains_on_the_chosen_replies(tmp_path, tiny_model_dir):
    write_pairs(tmp_path)
    adapter = train_adapter(tiny_config(tmp_path, tiny_model_dir, method="sft", max_steps=2))
    prov = artifacts.read_json(artifacts.provenance_path(adapter))
    assert prov["method"] == "sft" and prov["global_step"] == 2
    assert (adapter / "adapter_config.json").exists()
    assert all(math.isfinite(v) for v in losses(tmp_path).values()) and len(losses(tmp_path)) == 2


def test_heldout_pairs_are_measured_during_training_not_trained_on(tmp_path, tiny_model_dir):
    write_pairs(tmp_path)
    heldout = artifacts.read_jsonl(write_pairs(tmp_path / "other", n=6, seed=9))
    artifacts.write_jsonl(tmp_path / "pairs_heldout.jsonl", heldout)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_adapter(tiny_config(tmp_path, tiny_model_dir, heldout_pairs=4, eval_every=2))
    # Losses only (no compute_metrics): asked for logits, TRL would run one more full forward per
    # held-out batch and the trainer would keep every batch's logits until the evaluation ends.
    assert not [w for w in caught if "return_outputs=True" in str(w.message)]
    evals = [row for row in read_train_log(tmp_path) if "eval_loss" in row]
    assert [row["step"] for row in evals] == [0, 2, 4]  # before the first step, then every 2 steps
    assert all(0.0 <= row["eval_rewards/accuracies"] <= 1.0 for row in evals)
    assert math.isclose(evals[0]["eval_loss"], math.log(2), rel_tol=1e-4)  # policy == reference at step 0
    prov = artifacts.read_json(artifacts.provenance_path(tmp_path / "adapter"))
    assert prov["n_heldout_pairs"] == 4 and prov["n_pairs"] == 16


def test_heldout_reference_runs_once_and_gives_the_same_losses(tmp_path, tiny_model_dir, monkeypatch):
    """The held-out pairs' reference log-probabilities are computed once, not at every measurement,
    and the held-out losses equal those of TRL's run-the-reference-every-time path."""
    import trl.trainer.dpo_trainer as trl_dpo

    import dca.train.stage

    heldout = artifacts.read_jsonl(write_pairs(tmp_path / "other", n=6, seed=9))
    calls = []
    real_use_adapter = trl_dpo.use_adapter

    def counting(*args, **kwargs):  # every adapter-off (reference) forward goes through this
        calls.append(1)
        return real_use_adapter(*args, **kwargs)

    monkeypatch.setattr(trl_dpo, "use_adapter", counting)

    def measured(run_dir: Path) -> tuple[list[float], int]:
        calls.clear()
        write_pairs(run_dir)
        artifacts.write_jsonl(run_dir / "pairs_heldout.jsonl", heldout)
        train_adapter(tiny_config(run_dir, tiny_model_dir, heldout_pairs=4, eval_every=2, shared_prefix=False),
                  progress=False)
        return [row["eval_loss"] for row in read_train_log(run_dir) if "eval_loss" in row], len(calls)

    once, forwards_once = measured(tmp_path / "once")
    monkeypatch.setattr(dca.train.stage, "heldout_reference_once", lambda trainer: None)
    every, forwards_every = measured(tmp_path / "every")
    # 4 training steps of 2 pairs; 4 held-out pairs in batches of 2, measured at steps 0, 2 and 4
    assert forwards_every == 4 + 3 * 2
    assert forwards_once == 4 + 2
    assert once == pytest.approx(every, abs=1e-5)


# ---- LoRA on the last layers only (lora_layers) ----

def test_lora_layers_adapts_the_last_layers_and_the_backward_stops_below_them(tmp_path, tiny_model_dir):
    """With ``lora_layers=1`` only the last decoder layer gets LoRA weights, and the hidden states below
    it carry no gradient (the backward pass ends there: that is the option's saving)."""
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file

    from dca.models.loading import load_base_model
    from dca.train.lora import adapted_layers

    write_pairs(tmp_path)
    adapter = train_adapter(tiny_config(tmp_path, tiny_model_dir, max_steps=1, lora_layers=1))
    assert json.loads((adapter / "adapter_config.json").read_text())["layers_to_transform"] == [1]
    names = list(load_file(str(adapter / "adapter_model.safetensors")))
    assert names and all(".layers.1." in n for n in names), names

    _, base = load_base_model(str(tiny_model_dir), "fp32")
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=ALL_LINEAR, task_type="CAUSAL_LM",
                                            layers_to_transform=adapted_layers(1, base)))
    out = model(input_ids=torch.tensor([[5, 6, 7, 8]]), output_hidden_states=True)
    below, last = out.hidden_states[1], out.hidden_states[2]  # outputs of layer 0 and layer 1
    assert not below.requires_grad and last.requires_grad


def test_lora_layers_beyond_the_model_names_the_value(tmp_path, tiny_model_dir):
    write_pairs(tmp_path)
    with pytest.raises(ConfigError, match=r"lora_layers=3 but the model has only 2 decoder layers"):
        train_adapter(tiny_config(tmp_path, tiny_model_dir, max_steps=1, lora_layers=3))
    with pytest.raises(ConfigError, match="lora_layers"):
        TrainConfig.from_dict({"lora_layers": -1})


def test_sft_refuses_the_parameters_it_does_not_read(capsys):
    """SFT reads none of DPO's parameters: set away from their defaults they would enter the adapter's
    fingerprint and the job's label without changing the training; the CLI refuses them in one line."""
    with pytest.raises(ConfigError, match=r"method='sft' does not read beta=9.0, loss_type='dpop', sft_weight=5.0"):
        TrainConfig.from_dict({"method": "sft", "loss_type": "dpop", "sft_weight": 5, "beta": 9})
    with pytest.raises(ConfigError, match="dpop_lambda=3.0 is read by loss_type='dpop' only"):
        TrainConfig.from_dict({"dpop_lambda": 3})
    assert TrainConfig.from_dict({"method": "sft", "beta": 0.1}).method == "sft"  # the default is no choice
    assert TrainConfig.from_dict({"loss_type": "dpop", "dpop_lambda": 3}).dpop_lambda == 3
    assert main(["train", "profile=none", "method=sft", "loss_type=dpop", "sft_weight=5", "beta=9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: method='sft' does not read") and "\n" not in err


def test_init_adapter_may_not_be_the_runs_own_output(tmp_path, capsys):
    """Starting from the adapter the run itself writes would train on top of the last result at every
    rerun (its fingerprint, which includes the init adapter's, never matches)."""
    run_dir = tmp_path / "run"
    (run_dir / "adapter").mkdir(parents=True)
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    for own in (run_dir / "adapter", run_dir / "checkpoints" / "checkpoint-2", run_dir / ".." / "run" / "adapter"):
        with pytest.raises(ConfigError, match=r"this run's"):
            TrainConfig.from_dict({"run_dir": str(run_dir), "init_adapter": str(own)})
    capsys.readouterr()
    assert main(["train", "profile=none", f"run_dir={run_dir}", f"init_adapter={run_dir}/adapter"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is this run's own adapter" in err and "\n" not in err
    other = tmp_path / "other" / "adapter"
    other.mkdir(parents=True)
    (other / "adapter_config.json").write_text("{}")
    assert TrainConfig.from_dict({"run_dir": str(run_dir), "init_adapter": str(other)}).init_adapter == str(other)


def _train(args: list[str], fault: str | None = None) -> int:
    from tests.test_pipeline import _run

    return _run(["train", *args], fault=fault)


@pytest.mark.slow
def test_sft_killed_at_random_points_reruns_to_the_same_adapter(tmp_path, tiny_model_dir):
    """``kill -9`` of ``train method=sft`` at random optimiser steps and between its writes; each rerun
    ends with the losses, log and adapter weights of an uninterrupted run."""
    from safetensors.torch import load_file

    def args(run_dir):
        return ["profile=none", f"run_dir={run_dir}", f"model={tiny_model_dir}", "method=sft", "max_steps=4",
                "batch_size=2", "save_steps=2", "logging_steps=1", "max_length=128", "learning_rate=5e-3", "lora_r=4",
                "lora_alpha=8", "precision=fp32"]

    clean = tmp_path / "clean"
    write_pairs(clean)
    assert main(["train", *args(clean)]) == 0
    want = load_file(str(clean / "adapter" / "adapter_model.safetensors"))
    points = [f"train:step-{s}" for s in sorted(random.Random(36).sample(range(1, 5), 2))]
    for point in (*points, "train:before-write", "train:after-adapter"):
        run_dir = tmp_path / point.replace(":", "-")
        write_pairs(run_dir)
        assert _train(args(run_dir), fault=point) == -9, point  # killed there (its own process)
        assert not artifacts.provenance_path(run_dir / "adapter").exists(), point  # not marked done
        assert main(["train", *args(run_dir)]) == 0, f"rerun after a kill at {point}"
        assert losses(run_dir) == pytest.approx(losses(clean), rel=1e-5), point
        got = load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
        assert got.keys() == want.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-6, msg=f"{point}: {key}")
