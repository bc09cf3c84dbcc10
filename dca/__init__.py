"""Direct Confidence Alignment (DCA), an open reproduction.

DCA (Zhang et al., ACL 2025 SRW, arXiv 2512.11998) trains a language model with DPO to *say* the
confidence it internally holds: to make its verbalized confidence ``C_v`` track the softmax
probability ``C_i`` of the answer letter it emits.

Modules, in the order data flows through them:

``data``        questions (paper datasets, local files, the offline synthetic generator), splits
``models``      loading a model (embedded SmolLM2-135M, a Hub id, a local folder)
``prompts``     chat prompts that ask for ``Answer: X`` and ``Probability: N%``
``parsing``     reading the letter and ``C_v`` from a response, with a reason on failure
``elicit``      batched greedy generation
``confidence``  internal confidence ``C_i`` from batched forward passes
``extract``     stage 1: the table of ``C_v`` and ``C_i`` per question
``pairs``       stage 2: DPO preference pairs
``train``       stage 3: DPO with a LoRA adapter
``evaluate``    stage 4: before/after metrics on held-out questions
``metrics``     the paper's alignment metrics and calibration beyond it
``plots``       figures
``artifacts``   run folders, atomic writes, provenance
"""

__version__ = "0.1.0"
