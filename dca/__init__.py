"""Direct Confidence Alignment (DCA), an open reproduction.

DCA (Zhang et al., ACL 2025 SRW, arXiv 2512.11998) trains a language model with DPO to *say* the
confidence it internally holds: to make its verbalized confidence ``C_v`` track the softmax
probability ``C_i`` of the answer letter it emits.

Data flows one way: questions -> prompts -> replies (``C_v``) and letter probabilities (``C_i``)
-> preference pairs -> adapter -> evaluation -> results -> book. Modules, in that order (one flat
package, one job each):

``data``        questions (paper datasets, local files, the offline synthetic generator), splits
``models``      loading a model for inference or training (packaged names, Hub ids, local folders)
``prompts``     questions -> chat prompts that ask for ``Answer: X`` and ``Probability: N%``
``prefix``      length-sorted batches and the prompts' shared-prefix key/value cache
``elicit``      prompts -> replies: batched greedy generation
``parsing``     replies -> the letter and ``C_v``, with a reason on failure
``confidence``  internal confidence ``C_i``, from the generation pass or a batched forward
``extract``     stage 1: the table of replies, ``C_v`` and ``C_i`` per question
``pairs``       stage 2: DPO preference pairs
``train``       stage 3: DPO (or SFT) with a LoRA adapter; ``train_config``: its parameters,
                ``train_log``: its log
``evaluate``    stage 4: before/after metrics on held-out questions
``metrics``     the paper's alignment metrics and calibration beyond it; ``bootstrap``: their intervals
``results``     the results store; ``report`` (``report_format``, ``report_rules``, ``report_reference``,
                ``report_run``) and ``plots``: the book's tables and figures
``book``        executes the notebooks and builds the book

Every stage module exposes its config (a :class:`dca.config.StageConfig`) and ``run(config, *,
progress=True, force=False)``; ``cli`` (``python -m dca``) runs them. Shared by all: ``config``
(configs, the shared defaults, profiles), ``artifacts`` (run folders, provenance), ``atomic_io``
(atomic writes), ``locking`` (the run folder's lock), ``distributed`` (several processes), ``paths``
(the repository root, the cache folder).
"""

__version__ = "0.1.0"
