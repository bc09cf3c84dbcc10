"""Whether the Hub may be contacted: one environment check, shared by the data sources and the configs.

It has a module of its own, importing nothing of ``dca``, so that :func:`dca.config.check_model` can ask
it without importing the data package (which imports the configs).
"""

from __future__ import annotations

import os


def hub_offline() -> bool:
    """True when the Hub must not be contacted (``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set).

    >>> import os; old = os.environ.get("HF_HUB_OFFLINE"); os.environ["HF_HUB_OFFLINE"] = "1"
    >>> hub_offline()
    True
    >>> _ = os.environ.pop("HF_HUB_OFFLINE") if old is None else os.environ.update(HF_HUB_OFFLINE=old)
    """
    return any(os.environ.get(k, "").strip().lower() in {"1", "true", "yes", "on"}
               for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
