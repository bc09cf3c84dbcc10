"""Shared fixtures: a tiny random model (seconds) and, where marked, the embedded SmolLM2-135M."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
# content hashes of local data files and model folders: cached in a temporary file, not in ~/.cache
os.environ.setdefault("DCA_HASH_CACHE", os.path.join(tempfile.mkdtemp(prefix="dca-hashes-"), "hashes.json"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Folder with a tiny random Llama and a locally trained tokenizer with a chat template."""
    from dca.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """The tiny model loaded for inference on the CPU in float32."""
    from dca.models.loading import load_model

    return load_model(str(tiny_model_dir), device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def embedded_model():
    """The embedded SmolLM2-135M-Instruct (converted by ``make setup``)."""
    from dca.models import embedded
    from dca.models.loading import load_model

    if not embedded.is_installed() and not embedded.find_gguf():
        pytest.skip("embedded model not installed: run `make setup`")
    return load_model("embedded", device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def format_model_dir(tmp_path_factory):
    """A tiny model taught the reply format (zero-shot prompts), so its replies parse."""
    from dca.models.tiny import build_tiny_model, teach_format

    return teach_format(build_tiny_model(tmp_path_factory.mktemp("tiny-format") / "model"))


@pytest.fixture
def random_run():
    """A plausible run of ``n`` questions: C_i uniform, C_v = C_i plus noise, correctness drawn from C_i."""

    def make(n: int, seed: int = 0, *, integers: bool = False):
        rng = np.random.default_rng(seed)
        c_i = rng.uniform(0, 100, n)
        c_v = np.clip(c_i + rng.normal(8, 20, n), 0, 100)
        if integers:
            c_v = np.round(c_v)
        return c_v, c_i, rng.random(n) < c_i / 100

    return make
