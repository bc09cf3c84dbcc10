"""Training checkpoints: the newest complete one of a run with the same parameters (a damaged or
half-written one is set aside), and clearing a checkpoints folder dca wrote."""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path

from dca.config import ConfigError


def is_complete(checkpoint: Path) -> bool:
    """A checkpoint is complete when its ``trainer_state.json`` (the trainer writes it last) reads, its
    ``torch.save`` files (optimiser, scheduler, random states: zip archives) pass their CRC checks and
    its safetensors files are whole (a file truncated or damaged after the trainer wrote it)."""
    import zipfile

    from dca.models.embedded import unreadable_safetensors

    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
        for path in sorted(checkpoint.glob("*.pt")) + sorted(checkpoint.glob("*.pth")):
            with zipfile.ZipFile(path) as archive:
                if archive.testzip() is not None:
                    return False
    except (OSError, ValueError, zipfile.BadZipFile):
        return False
    return unreadable_safetensors(checkpoint) is None


def is_final(checkpoint: str | Path) -> bool:
    """Whether a (complete) checkpoint was saved at its run's last optimiser step: its
    ``trainer_state.json`` has ``global_step`` at ``max_steps``.

    A run killed after that step but before the adapter was written has nothing left to train;
    resuming from such a checkpoint, ``transformers`` would still train one step more.

    >>> import tempfile
    >>> c = Path(tempfile.mkdtemp())
    >>> _ = (c / "trainer_state.json").write_text('{"global_step": 4, "max_steps": 4}')
    >>> is_final(c)
    True
    """
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    return int(state.get("max_steps") or 0) > 0 and int(state.get("global_step") or 0) >= int(state["max_steps"])


def last_checkpoint(checkpoints: Path, fingerprint: str) -> str | None:
    """The newest *complete* checkpoint of a run with this fingerprint, or None.

    A newer checkpoint half-written when training was killed, or with a damaged file, is set aside
    (renamed ``incomplete-checkpoint-N``, by the main process) with a warning, and the one before it
    resumed; the folders set aside are removed once training has finished.
    """
    from dca.runs.distributed import is_main_process

    marker = checkpoints / "FINGERPRINT"
    if not checkpoints.is_dir() or not marker.exists() or marker.read_text().strip() != fingerprint:
        return None
    found = [p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    for path in sorted(found, key=lambda p: int(p.name.split("-")[-1]), reverse=True):
        if is_complete(path):
            return str(path)
        if is_main_process():
            aside = path.with_name(f"incomplete-{path.name}-{int(time.time())}")
            path.rename(aside)
            warnings.warn(f"{path} is incomplete (a file of it is missing or damaged: training was killed while "
                          f"writing it, or the disk filled); set aside as {aside.name}", stacklevel=2)
    return None


def clear_checkpoints(checkpoints: Path) -> None:
    """Remove a checkpoints folder dca wrote (it holds the FINGERPRINT marker); refuse any other."""
    if not checkpoints.exists():
        return
    if not (checkpoints / "FINGERPRINT").is_file() and any(checkpoints.iterdir()):
        raise ConfigError(f"{checkpoints} exists but was not written by dca (no FINGERPRINT file in it); "
                          "move it away or choose another run_dir")
    shutil.rmtree(checkpoints)
