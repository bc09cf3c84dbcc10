"""A tiny random-initialised Llama with a locally trained tokenizer: the fast fixture for tests.

Nothing is downloaded: the byte-level BPE tokenizer is trained here on a few hundred lines of text
that look like our prompts, and carries the same ChatML template as SmolLM2. The model has the
shape you ask for (tiny for unit tests; a paper model's shape for the GPU benchmark).
"""

from __future__ import annotations

from pathlib import Path

from dca.config import SEED

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _corpus() -> list[str]:
    words = ("question answer probability choose option letter what which number larger smaller "
             "minutes hours meters kilometers grams day week the of a is to and in").split()
    lines = []
    for i in range(400):
        a, b = i % 97, (i * 7) % 89
        lines.append(f"Question: What is {a} + {b}? A) {a + b} B) {a + b + 1} C) {a + b - 2} D) {a * 2}")
        lines.append(f"Answer: {'ABCD'[i % 4]}\nProbability: {(i * 13) % 101}%")
        lines.append(" ".join(words[(i + j) % len(words)] for j in range(12)))
    return lines


def build_tokenizer(vocab_size: int = 512):
    """Train a byte-level BPE tokenizer locally and wrap it as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>",
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(path: str | Path, *, hidden_size: int = 64, num_layers: int = 2,
                     num_heads: int = 4, num_kv_heads: int = 2, intermediate_size: int = 128,
                     vocab_size: int = 512, seed: int = SEED, dtype: str = "float32") -> Path:
    """Save a random Llama + local tokenizer to ``path`` and return it (loadable by ``load_model``)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    tokenizer = build_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
        max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def teach_format(path: str | Path, *, steps: int = 60, batch_size: int = 8, k_shot: int = 0,
                 lr: float = 3e-3, seed: int = SEED) -> Path:
    """Fine-tune a tiny model (in place) until it answers in the requested two-line format.

    A random model replies with noise, which exercises the failure paths but nothing after them.
    A few seconds of plain next-token training on ``prompt + "Answer: X\\nProbability: N%"`` (random
    letters and numbers, loss on the reply only) gives a fixture whose replies parse, so pairs,
    training and evaluation can be tested end to end in seconds.
    """
    import random

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dca.data import synthetic_questions
    from dca.extract.prompts import build_messages, format_reply, render_prompt

    path = Path(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    questions = synthetic_questions(64, seed=seed + 1)
    examples = []
    for q in questions:
        prompt = render_prompt(tokenizer, build_messages(q.question, q.choices, k_shot=k_shot))
        reply = format_reply(rng.choice(q.letters), rng.randrange(5, 100, 5)) + tokenizer.eos_token
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        r_ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
        examples.append((p_ids + r_ids, [-100] * len(p_ids) + r_ids))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        batch = [examples[(step * batch_size + j) % len(examples)] for j in range(batch_size)]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((batch_size, width), tokenizer.pad_token_id)
        labels = torch.full((batch_size, width), -100)
        mask = torch.zeros((batch_size, width), dtype=torch.long)
        for row, (seq, lab) in enumerate(batch):
            ids[row, :len(seq)] = torch.tensor(seq)
            labels[row, :len(lab)] = torch.tensor(lab)
            mask[row, :len(seq)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(path)
    return path
