"""The kernel the book's chapters run in: ipykernel, minus one message meant for remote kernels.

ipykernel warns at every start that a kernel on TCP without CurveZMQ keys sends its traffic
unencrypted. The book's kernel listens on this machine only (papermill starts it here, on localhost
ports), so the warning names nothing a reader can act on; :class:`BookKernelManager` starts
``python -m dca.book.kernel`` instead of ``ipykernel_launcher``, which drops exactly that message
and is otherwise ipykernel's own launcher. (Unix sockets instead of TCP would avoid the warning too,
but there ipykernel logs "KeyboardInterrupt caught in kernel" at most shutdowns: jupyter_client
interrupts a kernel before it asks it to stop, and the request then arrives inside the interrupt.)
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

#: The start of the one ipykernel message this kernel leaves out.
TCP_WARNING = "Kernel is running over TCP without encryption"


class LocalKernelFilter(logging.Filter):
    """Drop ipykernel's TCP-encryption warning; pass every other record."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(TCP_WARNING)


class BookKernelManager(AsyncKernelManager):
    """papermill's kernel manager, starting :mod:`dca.book.kernel` where the kernel spec names
    ``ipykernel_launcher`` (any other kernel spec is left as it is)."""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        return [__name__ if part == "ipykernel_launcher" else part for part in cmd]


def main() -> Any:
    """ipykernel_launcher's steps, with :class:`LocalKernelFilter` on the kernel application's log."""
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():  # as ipykernel_launcher: init_path adds it back
        del sys.path[0]
    from ipykernel import kernelapp

    logging.getLogger(kernelapp.IPKernelApp.__name__).addFilter(LocalKernelFilter())
    return kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
