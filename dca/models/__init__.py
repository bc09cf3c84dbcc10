"""Loading a model: packaged names, Hub ids and local folders (``loading``); the packaged models
and their conversion (``embedded``); the tiny random test model (``tiny``); keeping a long CPU run's
memory near its working set (``memory``).

``from dca.models import X`` gives ``X`` of :mod:`dca.models.loading`.
"""

from dca._reexport import reexport

__getattr__, __dir__ = reexport(__name__, "dca.models.loading")
