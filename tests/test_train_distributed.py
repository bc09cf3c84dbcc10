"""The training entry runs unchanged under ``torchrun --nproc_per_node 2`` (gloo on a CPU).

About 25 s on 2 cores (with a one-process run to compare), so not marked ``slow``: it runs in CI
with everything else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dca.runs import artifacts
from dca.train.stage import TrainConfig, train_adapter

ROOT = Path(__file__).resolve().parent.parent


def test_torchrun_two_processes_train_data_parallel(tmp_path, tiny_model_dir):
    run_dir = tmp_path / "run"
    artifacts.write_jsonl(run_dir / "pairs.jsonl", [
        {"prompt": [{"role": "user", "content": f"Question: What is {i} + 1?\nA) {i}\nB) {i + 1}"}],
         "chosen": [{"role": "assistant", "content": f"Answer: B\nProbability: {10 + i}%"}],
         "rejected": [{"role": "assistant", "content": "Answer: B\nProbability: 90%"}]}
        for i in range(16)])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dca", "train", "profile=none", f"run_dir={run_dir}", f"model={tiny_model_dir}", "max_steps=2", "batch_size=2",
           "save_steps=1", "max_length=128", "lora_r=4", "lora_alpha=8", "lora_dropout=0", "learning_rate=5e-3",
           "warmup_ratio=0", "precision=fp32"]  # 'auto' is bf16 on CPUs with AMX / AVX512-BF16
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("[dca] train:") == 1  # only the main process reports and writes
    adapter = run_dir / "adapter"
    assert (adapter / "adapter_model.safetensors").exists()
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]  # no temporaries left behind
    prov = artifacts.read_json(artifacts.provenance_path(adapter))
    assert prov["world_size"] == 2 and prov["distributed_type"].endswith("MULTI_CPU")
    assert prov["global_step"] == 2
    steps = [row for row in artifacts.read_jsonl(run_dir / "train_log.jsonl") if "loss" in row]
    # 2 processes x 2 pairs per step = 4 of 16 pairs per step: a quarter epoch each
    assert [row["epoch"] for row in steps] == pytest.approx([0.25, 0.5])
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("checkpoint-*")) == ["checkpoint-1",
                                                                                    "checkpoint-2"]
    assert prov["shared_prefix_forwards"] == 4  # policy + reference pass of 2 steps on the main process

    # Gradients are averaged over the processes: one process with both halves of each batch (2 x 2 pairs)
    # logs the same losses, step 2 included (after one update). Dropout is off so the random streams agree.
    single = tmp_path / "single"
    artifacts.write_jsonl(single / "pairs.jsonl", artifacts.read_jsonl(run_dir / "pairs.jsonl"))
    train_adapter(TrainConfig(run_dir=str(single), model=str(tiny_model_dir), max_steps=2, batch_size=4,
                          max_length=128, lora_r=4, lora_alpha=8, lora_dropout=0.0, learning_rate=5e-3,
                          warmup_ratio=0.0, precision="fp32"))
    single_steps = [row for row in artifacts.read_jsonl(single / "train_log.jsonl") if "loss" in row]
    assert steps[1]["loss"] < steps[0]["loss"] - 1e-3  # one update moved the policy
    assert [row["loss"] for row in steps] == pytest.approx([row["loss"] for row in single_steps], abs=1e-5)
