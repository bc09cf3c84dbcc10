"""Direct Confidence Alignment (DCA), an open reproduction.

DCA (Zhang et al., ACL 2025 SRW, arXiv 2512.11998) trains a language model with DPO to *say* the
confidence it internally holds: to make its verbalized confidence ``C_v`` track the softmax
probability ``C_i`` of the answer letter it emits.

Data flows one way, and the folders follow it:

``data/``       questions: paper datasets, local files, the offline synthetic generator; splits
``models/``     loading a model (packaged names, Hub ids, local folders); the tiny test model
``extract/``    stage 1: prompts -> replies -> ``C_v`` (parsing) and ``C_i`` (confidence) per question
``pairs``       stage 2: DPO preference pairs (one module)
``train/``      stage 3: DPO (or SFT) with a LoRA adapter; ``train.config`` holds its parameters
``evaluate/``   stage 4: the metrics, their bootstrap intervals, the baselines; before/after on
                held-out questions, and ``transfer`` to another question source
``runs/``       run folders: artifacts and provenance, atomic writes, the lock, the results store
``reference/``  the experiments the book reports (reference experiment, objectives study) and their
                collectors
``report/``     the chapters' tables, sentences and figures, computed from result rows
``book/``       executes the notebooks and builds the book; the student notebooks and their checks

:mod:`dca.pipeline` declares the stages once: their config class, chapter, and the artifacts each reads
and writes; the command line (``cli``, ``python -m dca``), the book driver, the run folder and the
reference runner read it. Every stage module exposes its config (a :class:`dca.config.StageConfig`) and
``run(config, *, progress=True, force=False)``. ``config`` holds the configs' base, the shared defaults
and the profiles; ``paths`` the repository root and the cache folder.

The flat module names of earlier versions (``dca.metrics``, ``dca.artifacts`` ...) still import: they
are the modules of the subpackages (:mod:`dca._moved`).
"""

from dca import _moved

_moved.install()

__version__ = "0.1.0"
