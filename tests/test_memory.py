"""Tests of dca.memory: glibc's allocator settings that keep a CPU training run's memory flat."""

from __future__ import annotations

import ctypes
import platform

import pytest

from dca import memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_on_glibc_both_calls_take_effect():
    assert memory._glibc() is not None
    assert memory.fix_mmap_threshold() is True
    assert isinstance(memory.release_free_memory(), bool)


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_freed_heap_pages_go_back_after_release():
    """Fragment the heap as a training step does (many mid-sized blocks, every other one kept), then
    free the rest: ``release_free_memory`` must lower the resident memory."""
    libc = memory._glibc()
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallopt(memory.M_MMAP_THRESHOLD, 64 * 1024 * 1024)  # serve 1 MiB blocks from the heap, as after a rise
    libc.mallopt(memory.M_TRIM_THRESHOLD, 1 << 30)  # and never trim on free: the creeping case
    try:
        blocks = [libc.malloc(1 << 20) for _ in range(256)]
        for b in blocks:
            ctypes.memset(b, 1, 1 << 20)  # touch the pages: they become resident
        for b in blocks[:-1]:  # the last block pins the heap's top: only trim in the middle can give pages back
            libc.free(b)
        before = _rss_kb()
        memory.release_free_memory()
        after = _rss_kb()
        libc.free(blocks[-1])
    finally:
        memory.fix_mmap_threshold()
        libc.mallopt(memory.M_TRIM_THRESHOLD, 128 * 1024)
    assert before - after > 128 * 1024  # more than half of the 255 MiB freed in the middle came back


def _rss_kb() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_without_glibc_nothing_is_called(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.fix_mmap_threshold() is False
    assert memory.release_free_memory() is False

