"""The experiments the book reports, run job by job: the reference experiment (``jobs``, ``runner``,
``collect``) and the objectives study (``study``, ``study_results``, ``diagnosis``). Each collector
turns run folders into the committed result files under ``book/data/``.

``from dca.reference import X`` gives ``X`` of :mod:`dca.reference.runner`.
"""

from dca._reexport import reexport

__getattr__, __dir__ = reexport(__name__, "dca.reference.runner")
