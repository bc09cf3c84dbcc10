"""Training objectives beyond the paper: RPO (DPO + NLL), APO-zero, DPOP, SFT then DPO, and a fraction
of the pairs, on the tiny model, with DPOP's loss checked against a hand computation.

At the first optimiser step a fresh LoRA adapter leaves the model unchanged (its B matrices start at
zero), so the policy equals the reference, every log-ratio is 0 and each loss has a value known by
hand: DPO and DPOP ``log 2``, APO-zero ``(1 - sigmoid(0)) + sigmoid(0) = 1``.
"""

from __future__ import annotations

import math

import pytest
import torch

from dca.runs import artifacts
from dca.train.objectives import dpop_loss
from dca.train.stage import TrainConfig, train_adapter
from tests.test_train import losses, tiny_config, write_pairs

LOG2 = math.log(2.0)


def test_dpop_loss_by_hand():
    chosen, rejected = torch.tensor([-3.0, -1.0]), torch.tensor([-6.0, -5.0])
    ref_chosen, ref_rejected = torch.tensor([-2.0, -2.0]), torch.tensor([-4.0, -4.0])
    # pair 1: chosen fell by 1 below the reference; pair 2: it rose by 1 (no penalty)
    expected = [-math.log(1 / (1 + math.exp(-0.1 * (-1 + 2 - 50 * 1)))),
                -math.log(1 / (1 + math.exp(-0.1 * (1 + 1 - 0))))]
    got = dpop_loss(chosen, rejected, ref_chosen, ref_rejected, beta=0.1, lam=50.0)
    assert got.tolist() == pytest.approx(expected, rel=1e-6)
    # lambda 0 is DPO's sigmoid loss
    dpo = -torch.nn.functional.logsigmoid(0.1 * ((chosen - ref_chosen) - (rejected - ref_rejected)))
    assert dpop_loss(chosen, rejected, ref_chosen, ref_rejected, 0.1, 0.0).tolist() == pytest.approx(dpo.tolist())


def test_dpop_gradient_raises_the_chosen_reply_when_it_fell():
    chosen = torch.tensor([-3.0], requires_grad=True)
    rejected = torch.tensor([-9.0], requires_grad=True)
    loss = dpop_loss(chosen, rejected, torch.tensor([-2.0]), torch.tensor([-4.0]), beta=0.1, lam=50.0).sum()
    loss.backward()
    plain = torch.tensor([-3.0], requires_grad=True)
    dpop_loss(plain, rejected.detach(), torch.tensor([-2.0]), torch.tensor([-4.0]), 0.1, 0.0).sum().backward()
    # descending the loss raises log p(chosen), and much harder than plain DPO does
    assert chosen.grad.item() < 0 and abs(chosen.grad.item()) > 10 * abs(plain.grad.item())


def first_loss(tmp_path, tiny_model_dir, name: str, **kw) -> float:
    run_dir = tmp_path / name
    write_pairs(run_dir)
    train_adapter(tiny_config(run_dir, tiny_model_dir, max_steps=2, save_steps=10, **kw))
    return losses(run_dir)[1]


@pytest.mark.parametrize("loss_type, expected", [("sigmoid", LOG2), ("dpop", LOG2), ("apo_zero", 1.0)])
def test_first_step_loss_is_known_by_hand(tmp_path, tiny_model_dir, loss_type, expected):
    assert first_loss(tmp_path, tiny_model_dir, loss_type, loss_type=loss_type) == pytest.approx(expected, abs=1e-5)


def test_rpo_adds_the_chosen_nll_linearly_in_its_weight(tmp_path, tiny_model_dir):
    one = first_loss(tmp_path, tiny_model_dir, "rpo1", sft_weight=1.0) - LOG2
    two = first_loss(tmp_path, tiny_model_dir, "rpo2", sft_weight=2.0) - LOG2
    # the tiny random model gives every token about 1/vocab: the NLL is near log(vocab) per token
    assert one > 1.0 and two == pytest.approx(2 * one, rel=1e-5)


def test_dpop_trains_and_measures_held_out_pairs(tmp_path, tiny_model_dir):
    run_dir = tmp_path / "dpop"
    write_pairs(run_dir)
    artifacts.write_jsonl(run_dir / "pairs_heldout.jsonl", artifacts.read_jsonl(run_dir / "pairs.jsonl")[:4])
    train_adapter(tiny_config(run_dir, tiny_model_dir, loss_type="dpop", heldout_pairs=4, eval_every=2))
    log = artifacts.read_jsonl(run_dir / "train_log.jsonl")
    held = [row for row in log if "eval_loss" in row]
    assert held and held[0]["eval_loss"] == pytest.approx(LOG2, abs=1e-5)  # before the first step
    assert all(math.isfinite(row["loss"]) for row in log if "loss" in row)
    assert all("logps/chosen" in row for row in log if "loss" in row)


def test_sft_then_dpo_uses_the_sft_adapter_as_its_reference(tmp_path, tiny_model_dir):
    sft_dir = tmp_path / "sft"
    write_pairs(sft_dir)
    sft_adapter = train_adapter(tiny_config(sft_dir, tiny_model_dir, method="sft", save_steps=10))
    run_dir = tmp_path / "sft-dpo"
    write_pairs(run_dir)
    # no dropout: with a trained adapter, the policy's and the reference's dropout masks would differ
    config = tiny_config(run_dir, tiny_model_dir, init_adapter=str(sft_adapter), max_steps=2, save_steps=10,
                         lora_dropout=0.0)
    adapter = train_adapter(config)
    # the policy starts as the SFT model, and so does the reference: DPO's first loss is log 2 although the
    # SFT adapter already moved the model away from the base
    assert losses(run_dir)[1] == pytest.approx(LOG2, abs=1e-5)
    from safetensors.torch import load_file

    before = load_file(str(sft_adapter / "adapter_model.safetensors"))
    after = load_file(str(adapter / "adapter_model.safetensors"))
    assert set(before) <= set(after)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # the fingerprint covers the starting adapter: another one would train again
    assert config.train_fingerprint(run_dir / "pairs.jsonl") != tiny_config(
        run_dir, tiny_model_dir, max_steps=2, save_steps=10, lora_dropout=0.0).train_fingerprint(run_dir / "pairs.jsonl")


def test_init_adapter_must_be_an_adapter_folder(tmp_path, tiny_model_dir):
    from dca.config import ConfigError

    with pytest.raises(ConfigError, match="init_adapter"):
        tiny_config(tmp_path, tiny_model_dir, init_adapter=str(tmp_path))


def test_pair_fraction_trains_on_a_seeded_subset_of_the_questions(tmp_path, tiny_model_dir):
    run_dir = tmp_path / "half"
    write_pairs(run_dir)
    train_adapter(tiny_config(run_dir, tiny_model_dir, pair_fraction=0.5, max_steps=1, save_steps=10))
    assert artifacts.read_json(run_dir / "adapter.provenance.json")["n_pairs"] == 8
    with pytest.raises(Exception, match="pair_fraction"):
        TrainConfig.from_dict({"pair_fraction": 0})


def same_pairs(run_dir, n: int = 4):
    """``n`` copies of one pair: every batch's mean NLL is that of the one chosen reply."""
    one = artifacts.read_jsonl(write_pairs(run_dir))[0]
    return artifacts.write_jsonl(run_dir / "pairs.jsonl", [one] * n), one


def chosen_nll_by_hand(model_dir, text: str, first: int, last: int) -> float:
    """Mean negative log-likelihood of the tokens ``first:last`` of ``text`` under the tiny model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logps = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
    targets = ids[0, 1:]
    token_logps = logps[torch.arange(len(targets)), targets]
    return float(-token_logps[first - 1:last - 1].mean())


def test_number_only_moves_the_shared_reply_start_into_the_prompt(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    from dca.train.data import number_only

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    record = artifacts.read_jsonl(write_pairs(tmp_path))[3]
    row = number_only(record, tokenizer)
    assert row["prompt"].endswith("<|im_start|>assistant\n" + "Answer: D\nProbability:")
    assert row["chosen"].startswith(" ") and row["chosen"].endswith(tokenizer.eos_token)
    assert row["chosen"].strip(" ").startswith(record["chosen"][0]["content"].rsplit(" ", 1)[1])
    # prompt + chosen is the conversational pair's text (less what follows the end of sequence)
    whole = tokenizer.apply_chat_template(record["prompt"] + record["chosen"], tokenize=False)
    assert whole.startswith(row["prompt"] + row["chosen"])
    assert whole[len(row["prompt"] + row["chosen"]):].strip() == ""


def test_number_only_rpo_trains_the_number_tokens_alone(tmp_path, tiny_model_dir):
    """RPO's NLL term at the first step, checked by hand: over the reply, or over the number onwards."""
    from transformers import AutoTokenizer

    from dca.train.data import number_only

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    nll = {}
    for loss_tokens in ("reply", "number"):
        run_dir = tmp_path / loss_tokens
        _, pair = same_pairs(run_dir)
        train_adapter(tiny_config(run_dir, tiny_model_dir, max_steps=1, save_steps=10, sft_weight=1.0,
                                  loss_tokens=loss_tokens))
        nll[loss_tokens] = losses(run_dir)[1] - LOG2
    whole = tokenizer.apply_chat_template(pair["prompt"] + pair["chosen"], tokenize=False)
    opened = tokenizer.apply_chat_template(pair["prompt"], tokenize=False, add_generation_prompt=True)
    n = len(tokenizer(whole, add_special_tokens=False)["input_ids"])
    reply_start = len(tokenizer(opened, add_special_tokens=False)["input_ids"])
    row = number_only(pair, tokenizer)
    number_start = len(tokenizer(row["prompt"], add_special_tokens=False)["input_ids"])
    number_end = len(tokenizer(row["prompt"] + row["chosen"], add_special_tokens=False)["input_ids"])
    assert reply_start < number_start < number_end <= n
    assert nll["reply"] == pytest.approx(chosen_nll_by_hand(tiny_model_dir, whole, reply_start, n), rel=1e-4)
    assert nll["number"] == pytest.approx(
        chosen_nll_by_hand(tiny_model_dir, whole, number_start, number_end), rel=1e-4)
    assert nll["number"] != pytest.approx(nll["reply"], rel=1e-3)


def test_number_only_sft_trains_the_number_tokens_alone(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    from dca.train.data import number_only

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    run_dir = tmp_path / "sft-number"
    _, pair = same_pairs(run_dir)
    config = tiny_config(run_dir, tiny_model_dir, method="sft", max_steps=1, save_steps=10, loss_tokens="number")
    train_adapter(config)
    assert artifacts.read_json(run_dir / "adapter.provenance.json")["params"]["loss_tokens"] == "number"
    row = number_only(pair, tokenizer)
    whole = tokenizer.apply_chat_template(pair["prompt"] + pair["chosen"], tokenize=False)
    start = len(tokenizer(row["prompt"], add_special_tokens=False)["input_ids"])
    end = len(tokenizer(row["prompt"] + row["chosen"], add_special_tokens=False)["input_ids"])
    assert losses(run_dir)[1] == pytest.approx(chosen_nll_by_hand(tiny_model_dir, whole, start, end), rel=1e-4)
    # 'number' enters the adapter's fingerprint (the default stays out: older adapters keep theirs)
    reply = tiny_config(run_dir, tiny_model_dir, method="sft", max_steps=1, save_steps=10)
    assert reply.train_fingerprint(run_dir / "pairs.jsonl") != config.train_fingerprint(run_dir / "pairs.jsonl")
    with pytest.raises(Exception, match="loss_tokens"):
        TrainConfig.from_dict({"loss_tokens": "letter"})


def test_number_only_names_a_template_that_cannot_split_the_reply(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    from dca.train.data import number_only

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = ("{% for m in messages %}<{{ m.role }}>{{ m.content | upper }}{% endfor %}"
                               "{% if add_generation_prompt %}<assistant>{% endif %}")
    record = artifacts.read_jsonl(write_pairs(tmp_path))[0]
    with pytest.raises(ValueError, match="loss_tokens='reply'"):
        number_only(record, tokenizer)


def letter_distributions(model_dir, adapter, pair) -> tuple[torch.Tensor, torch.Tensor]:
    """The base model's and the trained model's log-probabilities of the token after ``... Answer:``
    (the context written out as text, not found from the training labels)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    opened = tokenizer.apply_chat_template(pair["prompt"], tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([tokenizer(opened + "Answer:", add_special_tokens=False)["input_ids"]])
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        before = torch.log_softmax(base(ids).logits[0, -1], dim=-1)
        after = torch.log_softmax(PeftModel.from_pretrained(base, str(adapter)).eval()(ids).logits[0, -1], dim=-1)
    return before, after


def test_letter_offset_points_at_the_answer_letter(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    from dca.train.answer_anchor import letter_offset
    from dca.train.data import number_only

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompts = [number_only(r, tokenizer)["prompt"] for r in artifacts.read_jsonl(write_pairs(tmp_path))]
    offset = letter_offset(prompts, tokenizer)
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids[len(ids) - offset]).strip() == prompt.rsplit("Answer:", 1)[1].strip()[0]
    with pytest.raises(ValueError, match="answer_kl_weight"):
        letter_offset([prompts[0].replace("Answer:", "Reply:")], tokenizer)


def test_answer_kl_holds_the_letter_distribution_while_the_number_trains(tmp_path, tiny_model_dir):
    from dca.config import ConfigError

    adapters, logs = {}, {}
    for weight in (0.0, 500.0):
        run_dir = tmp_path / f"w{weight:g}"
        write_pairs(run_dir)
        adapters[weight] = train_adapter(tiny_config(run_dir, tiny_model_dir, method="sft", loss_tokens="number",
                                                     answer_kl_weight=weight, max_steps=6, save_steps=6,
                                                     lora_dropout=0.0))
        logs[weight] = [row for row in artifacts.read_jsonl(run_dir / "train_log.jsonl") if "loss" in row]
    # at the first step the adapter is zero: the policy is the reference, the term is 0, the loss SFT's alone
    assert logs[500.0][0]["answer_kl"] == pytest.approx(0.0, abs=1e-6)
    assert logs[500.0][0]["loss"] == pytest.approx(logs[0.0][0]["loss"], rel=1e-5)
    assert "answer_kl" not in logs[0.0][0]
    pair = artifacts.read_jsonl(tmp_path / "w0" / "pairs.jsonl")[0]
    drift = {}
    for weight, adapter in adapters.items():
        before, after = letter_distributions(tiny_model_dir, adapter, pair)
        drift[weight] = float((before.exp() * (before - after)).sum())  # KL(reference || trained)
    assert drift[0.0] > 1e-3 and drift[500.0] < drift[0.0] / 10  # measured: 5e-3 and 2e-5
    config = tiny_config(tmp_path, tiny_model_dir, method="sft", loss_tokens="number", answer_kl_weight=1.0)
    plain = tiny_config(tmp_path, tiny_model_dir, method="sft", loss_tokens="number")
    assert config.train_fingerprint(tmp_path / "w0" / "pairs.jsonl") != plain.train_fingerprint(
        tmp_path / "w0" / "pairs.jsonl")
    with pytest.raises(ConfigError, match="answer_kl_weight"):
        tiny_config(tmp_path, tiny_model_dir, answer_kl_weight=1.0)  # DPO
    with pytest.raises(ConfigError, match="answer_kl_weight"):
        tiny_config(tmp_path, tiny_model_dir, method="sft", answer_kl_weight=1.0)  # the letter is in the loss


def line_distributions(model_dir, adapter, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The base model's and the trained model's log-probabilities at every position from ``... Answer:`` to
    the one before the number (positions x vocabulary), the positions found from the text, not the labels."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    head = len(tokenizer(prompt[: prompt.rfind("Answer:") + len("Answer:")], add_special_tokens=False)["input_ids"])
    tensor = torch.tensor([ids])
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        before = torch.log_softmax(base(tensor).logits[0, head - 1: len(ids) - 1], dim=-1)
        trained = PeftModel.from_pretrained(base, str(adapter)).eval()
        after = torch.log_softmax(trained(tensor).logits[0, head - 1: len(ids) - 1], dim=-1)
    return before, after


def test_answer_kl_on_the_line_holds_every_fixed_token_of_the_answer_line(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    from dca.config import ConfigError
    from dca.train.answer_anchor import letter_offset
    from dca.train.data import number_only

    adapters, logs = {}, {}
    for name, extra in (("free", {}), ("line", {"answer_kl_weight": 500.0, "answer_kl_span": "line"})):
        run_dir = tmp_path / name
        write_pairs(run_dir)
        adapters[name] = train_adapter(tiny_config(run_dir, tiny_model_dir, method="sft", loss_tokens="number",
                                                   max_steps=6, save_steps=6, lora_dropout=0.0, **extra))
        logs[name] = [row for row in artifacts.read_jsonl(run_dir / "train_log.jsonl") if "loss" in row]
    assert logs["line"][0]["answer_kl"] == pytest.approx(0.0, abs=1e-6)  # the adapter starts at zero
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = number_only(artifacts.read_jsonl(tmp_path / "free" / "pairs.jsonl")[0], tokenizer)["prompt"]
    drift = {}
    for name, adapter in adapters.items():
        before, after = line_distributions(tiny_model_dir, adapter, prompt)
        assert before.shape[0] == letter_offset([prompt], tokenizer) > 1  # the letter and the tokens after it
        drift[name] = (before.exp() * (before - after)).sum(dim=-1)  # KL(reference || trained) per position
    # every position of the line, not only the letter's, moves less when the line is held
    # measured: 5e-3 to 1e-2 free, 2e-5 to 5e-5 held, at each of the 4 positions
    assert bool((drift["free"] > 1e-3).all()) and bool((drift["line"] < drift["free"] / 10).all()), (
        drift["free"].tolist(), drift["line"].tolist())
    letter = tiny_config(tmp_path, tiny_model_dir, method="sft", loss_tokens="number", answer_kl_weight=500.0)
    line = tiny_config(tmp_path, tiny_model_dir, method="sft", loss_tokens="number", answer_kl_weight=500.0,
                       answer_kl_span="line")
    pairs = tmp_path / "free" / "pairs.jsonl"
    assert letter.train_fingerprint(pairs) != line.train_fingerprint(pairs)
    with pytest.raises(ConfigError, match="answer_kl_span"):
        tiny_config(tmp_path, tiny_model_dir, method="sft", loss_tokens="number", answer_kl_span="line")
