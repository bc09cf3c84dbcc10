"""Tests of dca.models.memory: freed heap pages go back to the system after each training step."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from dca.models import memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Fragment the heap as a training step does (many 1 MiB blocks served from the heap, as after glibc's
# mmap threshold rose; never trimmed on free), free all but the last (it pins the heap's top, so only
# a trim in the middle can give pages back), and print the resident memory before and after the
# release. In a child process: these mallopt settings would otherwise stay for the rest of the tests.
FRAGMENT = """
import ctypes, json
from dca.models import memory
def rss_kb():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
libc = memory._glibc()
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallopt(memory.M_MMAP_THRESHOLD, 64 * 1024 * 1024)
libc.mallopt(memory.M_TRIM_THRESHOLD, 1 << 30)
blocks = [libc.malloc(1 << 20) for _ in range(256)]
for b in blocks:
    ctypes.memset(b, 1, 1 << 20)
for b in blocks[:-1]:
    libc.free(b)
before = rss_kb()
released = memory.release_free_memory()
print(json.dumps({"before": before, "after": rss_kb(), "released": released}))
"""


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_freed_heap_pages_go_back_after_release():
    out = subprocess.run([sys.executable, "-c", FRAGMENT], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["released"] is True
    assert got["before"] - got["after"] > 128 * 1024  # more than half of the 255 MiB freed in the middle


def test_without_glibc_nothing_is_called(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.release_free_memory() is False


def test_training_runs_the_release_after_each_step_and_evaluation(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: calls.append(1) or True)
    callback = memory.training_callback()
    callback.on_step_end(None, None, None)
    callback.on_evaluate(None, None, None)
    assert len(calls) == 2
