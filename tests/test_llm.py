import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch

from helpers import inference, llm, synthetic
from helpers.core.messages import KitError


def test_qlora_really_quantizes_and_trains_only_adapters(tiny_llm_dir, tmp_path):
    import bitsandbytes as bnb

    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path))
    model, tok = llm.load_model(cfg)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    q = next(m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    assert q.weight.quant_type == "nf4" and q.weight.quant_state.nested  # double quantisation
    model = llm.add_adapters(model, cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert any("lm_head.lora_A" in n for n in trainable)  # the seed also adapts lm_head
    assert set(cfg.lora_settings("hf")[1]) == set(llm.SEED_TARGETS)


def test_seed_defaults():
    cfg = llm.LLMConfig()
    assert (cfg.lora_r, cfg.lora_alpha) == (16, 32)
    assert cfg.lora_settings("hf") == (0.01, llm.SEED_TARGETS)
    assert cfg.lora_settings("unsloth") == (0.0, llm.SEVEN_PROJECTIONS)   # the fast engine's defaults
    assert llm.LLMConfig(lora_dropout=0.05).lora_settings("unsloth")[0] == 0.05
    assert (cfg.learning_rate, cfg.lr_scheduler_type, cfg.warmup_steps, cfg.weight_decay) == (2e-4, "cosine", 20, 0.1)
    assert (cfg.gradient_checkpointing, cfg.max_length, cfg.seed) == ("auto", 1024, 42)
    assert llm.LLMConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("flag, value, message", [
    ("--gradient-checkpointing", "maybe", "gradient_checkpointing must be true, false or 'auto', not 'maybe'"),
    ("--max-tokens-per-batch", "lots", "max_tokens_per_batch must be a token count, 'auto' or 'none', not 'lots'"),
])
def test_a_bad_flag_value_is_one_message_not_a_traceback(flag, value, message):
    r = subprocess.run([sys.executable, "-m", "helpers.llm", "train", flag, value, "--task", "cci"],
                       capture_output=True, text=True, env={**os.environ, "KIT_LANG": "en"})
    assert r.returncode == 1 and message in r.stderr + r.stdout and "Traceback" not in r.stderr


def test_loss_is_on_answer_tokens_only(tiny_llm_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm_dir)
    enc = llm.encode_example(tok, "<|user|>\n질문입니다</s>\n<|assistant|>\n", "B", max_length=64)
    n_prompt = len(tok("<|user|>\n질문입니다</s>\n<|assistant|>\n", add_special_tokens=False)["input_ids"])
    assert enc["labels"][:n_prompt] == [-100] * n_prompt
    assert enc["labels"][n_prompt:] == enc["input_ids"][n_prompt:] == tok("B", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    batch = llm.AnswerOnlyCollator(tok.pad_token_id)([enc, llm.encode_example(tok, "짧은 질문", "A", 64)])
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    with torch.no_grad():
        out = model(**batch)
        logits = out.logits[:, :-1].float()
        labels = batch["labels"][:, 1:]
        keep = labels != -100
        manual = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
        everything = torch.nn.functional.cross_entropy(logits[batch["attention_mask"][:, 1:] == 1],
                                                       batch["input_ids"][:, 1:][batch["attention_mask"][:, 1:] == 1])
    assert out.loss.item() == pytest.approx(manual.item(), rel=1e-4)
    assert abs(out.loss.item() - everything.item()) > 1e-3


def test_answer_only_head_gives_the_models_loss_and_gradients(tiny_llm_dir):
    """The LM head applied at the answer positions only: the same loss and the same LoRA
    gradients as the model's own forward, for LoRA with and without an lm_head adapter."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from helpers.llm.train import answer_only_head_supported, answer_only_loss

    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    encs = [llm.encode_example(tok, "<|user|>\n" + "긴 질문 " * n + "</s>\n<|assistant|>\n", answer, 64)
            for n, answer in ((9, "B"), (3, "정답은 C"), (6, "A"))]
    batch = llm.AnswerOnlyCollator(tok.pad_token_id)(encs)
    for targets in (["q_proj", "v_proj"], ["q_proj", "v_proj", "lm_head"]):
        torch.manual_seed(0)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llm_dir),
                               LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False))
        assert answer_only_head_supported(model)
        grads = []
        for fast in (False, True):
            model.zero_grad()
            n_answer = (batch["labels"][:, 1:] != -100).sum()
            loss = answer_only_loss(model, batch) / n_answer if fast else model(**batch).loss
            loss.backward()
            grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
            if fast:
                assert loss.item() == pytest.approx(reference, rel=1e-5)
            reference = loss.item()
        assert grads[0].keys() == grads[1].keys() and any("lm_head" in n for n in grads[0]) == ("lm_head" in targets)
        for name in grads[0]:
            torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6)
    gemma_like = AutoModelForCausalLM.from_pretrained(tiny_llm_dir)
    gemma_like.config.final_logit_softcapping = 30.0  # a head whose logits are changed after the product
    assert not answer_only_head_supported(gemma_like)


def test_answer_only_head_runs_under_the_trainers_mixed_precision(tiny_llm_dir, tmp_path):
    """The answer-only loss calls the decoder itself, past the autocast wrapper accelerate puts
    on the model's forward: it must open the same autocast, or a bf16 run computes in fp32."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

    from helpers.llm.train import _kit_trainer_class

    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llm_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    data = [llm.encode_example(tok, "질문 " * n, "A", 64) for n in (3, 5, 7, 9)]
    seen = []
    mlp = model.get_base_model().get_decoder().layers[0].mlp
    mlp.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    args = TrainingArguments(output_dir=str(tmp_path), bf16=True, use_cpu=True, max_steps=1, per_device_train_batch_size=4,
                             report_to=[], save_strategy="no", remove_unused_columns=False)
    trainer = _kit_trainer_class()(model=model, args=args, train_dataset=data,
                                   data_collator=llm.AnswerOnlyCollator(tok.pad_token_id))
    trainer.answer_only_head = True
    trainer.train()
    assert seen and all(d == torch.bfloat16 for d in seen), seen


def test_long_prompts_lose_their_beginning_not_the_answer(tiny_llm_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    enc = llm.encode_example(tok, "앞부분 " * 200 + "질문?", "C", max_length=40)
    assert len(enc["input_ids"]) == 40 and tok.decode(enc["input_ids"]).endswith("질문?C</s>")


def test_training_beats_chance_and_saves_adapter_tokenizer_config(trained_cci):
    model, tok, cfg, dev = trained_cci
    preds = inference.predict_cci(model, tok, dev, progress=False)
    acc = sum(p["output"] == r.output for p, r in zip(preds, dev)) / len(dev)
    assert acc >= 0.8, acc  # chance 1/3; always-A 0.4
    final = os.path.join(cfg.output_dir, "final")
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "kit_llm_config.json"):
        assert os.path.isfile(os.path.join(final, name)), name
    assert llm.LLMConfig.from_json(open(os.path.join(final, "kit_llm_config.json"), encoding="utf-8").read()) == cfg


@pytest.mark.slow
def test_training_beats_chance_on_another_seed(tiny_llm_dir, tmp_path):
    from helpers.runtime import seed_everything

    seed_everything(1, threads=2)
    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path), seed=1)
    res = llm.train(cfg, synthetic.synthetic_cci(320, seed=1))
    model, tok = res.model, res.tokenizer
    dev = synthetic.synthetic_cci(60, seed=101, split="dev")
    preds = inference.predict_cci(model, tok, dev, progress=False)
    assert sum(p["output"] == r.output for p, r in zip(preds, dev)) / len(dev) >= 0.8


def test_resume_continues_from_the_last_checkpoint(tiny_llm_dir, tmp_path):
    from transformers import TrainerCallback

    class Count(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kw):
            Count.steps += 1

    records = synthetic.synthetic_cci(64, seed=3)
    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path), save_steps=2)
    llm.train(cfg, records, max_steps=4)                      # "interrupted" after 4 steps
    assert llm.last_checkpoint(tmp_path).endswith("checkpoint-4")
    Count.steps = 0
    llm.train(cfg, records, max_steps=6, callbacks=[Count()])
    assert Count.steps == 2                                   # only steps 5 and 6 ran again
    assert llm.last_checkpoint(tmp_path).endswith("checkpoint-6")
    (tmp_path / "checkpoint-8").mkdir()                      # a kill while saving: an empty, torn folder
    assert llm.last_checkpoint(tmp_path).endswith("checkpoint-6")
    with pytest.raises(KitError, match="changed: examples, records"):
        llm.train(cfg, records[:40], max_steps=8)            # other data: refused, not silently continued
    with pytest.raises(KitError, match="changed: lora_r"):
        llm.train(dataclasses.replace(cfg, lora_r=8), records, max_steps=8)
    Count.steps = 0
    llm.train(cfg, records, max_steps=7, callbacks=[Count()])
    assert Count.steps == 1                                   # resumed from checkpoint-6, past the torn one


def test_batched_scoring_chooses_the_same_labels_as_one_at_a_time(trained_cci):
    model, tok, cfg, dev = trained_cci
    prompts = inference.cci_prompts(dev, tok)
    batched = inference.score_options(model, tok, prompts, max_tokens=2048, progress=False)
    single = [inference.score_options(model, tok, [p], progress=False)[0] for p in prompts]
    argmax = lambda rows: [max(range(3), key=r.__getitem__) for r in rows]
    assert argmax(batched) == argmax(single)
    assert all(abs(sum(r) - 1) < 1e-5 for r in batched)
    lengths = {len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts}
    assert len(lengths) > 3  # really different lengths, so left padding was exercised


def test_generation_mode_parses_the_same_letters(trained_cci):
    model, tok, cfg, dev = trained_cci
    prompts = inference.cci_prompts(dev[:20], tok)
    letters = inference.generate_letters(model, tok, prompts, batch_size=8)
    scored = [p["output"] for p in inference.predict_cci(model, tok, dev[:20], progress=False)]
    assert [f"inference_{'ABC'.index(x) + 1}" if x else None for x in letters] == scored


def test_generating_leaves_gradient_checkpointing_as_it_was(trained_cci, monkeypatch):
    """unsloth's generate clears every layer's gradient-checkpointing flag (``for_inference``) and
    sets it again only for a model in train mode; the kit generates in eval mode, so a model that
    generated and then trained (lesson 07's summary DPO, GRPO's sampling) lost checkpointing and
    ran out of memory on an H200 capped to a T4's 15 GiB. Here a stand-in for unsloth's generate
    clears the flags as its ``for_inference`` does: on every module where the name resolves."""
    from helpers.llm.engines import checkpointing_flags, get_engine

    model, tok, cfg, dev = trained_cci
    real = model.generate

    def like_unsloth(*args, **kwargs):
        for module in model.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = False
        return real(*args, **kwargs)

    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    monkeypatch.setattr(model, "generate", like_unsloth)
    try:
        flags = checkpointing_flags(model)
        assert len(flags) >= 3 and all(v for _, v in flags)  # the base model and each decoder layer
        prompts = inference.cci_prompts(dev[:2], tok)
        get_engine("hf", load=False).generate(model, tok, prompts, inference.GenerationConfig(max_new_tokens=2),
                                              progress=False)
        after = checkpointing_flags(model)
        assert [m for m, _ in after] == [m for m, _ in flags] and all(v for _, v in after)
        layers = [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]
        assert layers and all(m.gradient_checkpointing for m in layers)
    finally:
        model.gradient_checkpointing_disable()


def test_prediction_file_resumes_without_redoing(trained_cci, tmp_path):
    model, tok, cfg, dev = trained_cci
    out = tmp_path / "pred.jsonl"
    calls = []
    original = inference.score_options

    def interrupted(m, t, prompts, *a, **kw):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the runtime dies during the third chunk
        calls.append(len(prompts))
        return original(m, t, prompts, *a, **kw)

    def counting(m, t, prompts, *a, **kw):
        calls.append(len(prompts))
        return original(m, t, prompts, *a, **kw)

    inference.score_options = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            inference.predict_cci_file(model, tok, dev, out, chunk=4)
        assert len(out.read_text(encoding="utf-8").splitlines()) == 1 + 8   # header + two chunks kept
        with open(out, "a", encoding="utf-8") as f:
            f.write('{"id": "nikluge-2024-대화 맥락 추론-dev-0000')               # a torn last line (kill mid-write)
        calls.clear()
        inference.score_options = counting
        preds = inference.predict_cci_file(model, tok, dev, out, chunk=16)
    finally:
        inference.score_options = original
    assert sum(calls) == len(dev) - 8                                      # only the rest was scored
    assert [p["id"] for p in preds] == [r.id for r in dev]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert "kit_header" in json.loads(lines[0])
    assert len(lines) == len(dev) + 1 and "대화 맥락 추론" in lines[1]
    assert set(json.loads(lines[1])["probs"]) == {"inference_1", "inference_2", "inference_3"}
    with pytest.raises(KitError, match="another model, prompt style or record set"):
        inference.predict_cci_file(model, tok, dev, out, style="instruction")   # another prompt: refused
    with pytest.raises(KitError, match="another model, prompt style or record set"):
        inference.predict_cci_file(model, tok, dev[:5], out)                    # other records: refused

def test_prediction_file_takes_records_shortest_prompt_first(trained_cci, tmp_path):
    """Chunks hold prompts of about one length (little padding in their batches); the returned
    predictions stay in the records' order."""
    model, tok, cfg, dev = trained_cci
    out = tmp_path / "sorted.jsonl"
    preds = inference.predict_cci_file(model, tok, dev, out, chunk=4, progress=False)
    assert [p["id"] for p in preds] == [r.id for r in dev]
    length = {r.id: len(p) for r, p in zip(dev, inference.cci_prompts(dev, tok))}
    written = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()[1:]]
    assert sorted(written) == sorted(length) and [length[i] for i in written] == sorted(length.values())
    assert [length[r.id] for r in dev] != sorted(length.values())  # the records were not in that order already


def test_shard_by_shard_merge_equals_peft_merge(tiny_llm_dir, tmp_path):
    """A base saved in several shards, a random LoRA adapter on the projections and lm_head:
    merging shard by shard gives peft's merged weights, keeps the shard layout, and refuses
    what it cannot merge without writing anything."""
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_llm_dir, dtype=torch.bfloat16)
    base.save_pretrained(tmp_path / "base", max_shard_size="300KB")
    AutoTokenizer.from_pretrained(tiny_llm_dir).save_pretrained(tmp_path / "base")
    assert len(list((tmp_path / "base").glob("*.safetensors"))) > 2
    torch.manual_seed(0)
    lora = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "down_proj", "lm_head"], init_lora_weights=False)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(tmp_path / "base", dtype=torch.bfloat16), lora)
    peft_model.save_pretrained(tmp_path / "adapter", save_embedding_layers=False)  # as the kit saves adapters
    expected = peft_model.merge_and_unload().state_dict()
    llm.merge_lora_shards(tmp_path / "adapter", str(tmp_path / "base"), tmp_path / "merged")
    got = {}
    for shard in sorted((tmp_path / "merged").glob("*.safetensors")):
        got.update(load_file(str(shard)))
    assert sorted(p.name for p in (tmp_path / "merged").glob("*.safetensors")) == \
        sorted(p.name for p in (tmp_path / "base").glob("*.safetensors"))
    assert got.keys() == expected.keys()
    changed = [k for k in got if not torch.equal(got[k], base.state_dict()[k])]
    assert "lm_head.weight" in changed and any("q_proj" in k for k in changed) and not any("v_proj" in k for k in changed)
    for k in got:
        torch.testing.assert_close(got[k].float(), expected[k].float(), rtol=0.02, atol=2e-3)
    from safetensors.torch import save_file

    tied = AutoModelForCausalLM.from_pretrained(tiny_llm_dir)  # a head tied to the embeddings has no lm_head weight
    tied.config.tie_word_embeddings = True
    tied.save_pretrained(tmp_path / "tied")
    weights = load_file(str(tmp_path / "tied" / "model.safetensors"))
    weights.pop("lm_head.weight", None)
    save_file(weights, str(tmp_path / "tied" / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(KitError, match="lm_head"):
        llm.merge_lora_shards(tmp_path / "adapter", str(tmp_path / "tied"), tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()
    # an adapter folder without the kit's config merges into the base its adapter_config names
    merged = llm.merge_adapter(tmp_path / "adapter", tmp_path / "merged-peft-folder")
    again = {}
    for shard in sorted(merged.glob("*.safetensors")):
        again.update(load_file(str(shard)))
    assert all(torch.equal(again[k], got[k]) for k in got)
    # refused before anything is written: an output folder that is not empty or holds an input
    for out in (tmp_path / "merged", tmp_path):
        with pytest.raises(KitError, match="not empty or holds an input"):
            llm.merge_adapter(tmp_path / "adapter", out)
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    with pytest.raises(KitError, match="not a LoRA adapter folder"):
        llm.merge_adapter(tmp_path / "base", tmp_path / "from-a-model-folder")
    assert not (tmp_path / "from-a-model-folder").exists()
    # what a plain W + scale·B·A cannot merge is refused: an embedding adapter
    emb = get_peft_model(AutoModelForCausalLM.from_pretrained(tmp_path / "base", dtype=torch.bfloat16),
                         LoraConfig(r=4, lora_alpha=16, target_modules=["embed_tokens", "q_proj"], init_lora_weights=False))
    emb.save_pretrained(tmp_path / "emb-adapter")
    with pytest.raises(KitError, match="plain LoRA"):
        llm.merge_lora_shards(tmp_path / "emb-adapter", str(tmp_path / "base"), tmp_path / "emb-merged")
    assert not (tmp_path / "emb-merged").exists()


def test_merged_model_answers_like_the_adapter(trained_cci, tmp_path):
    model, tok, cfg, dev = trained_cci
    merged_dir = llm.merge_adapter(os.path.join(cfg.output_dir, "final"), tmp_path / "merged")  # shards on a CPU
    assert (merged_dir / "model.safetensors").is_file() and (merged_dir / "tokenizer_config.json").is_file()
    with pytest.raises(KitError, match="not empty or holds an input"):
        llm.merge_adapter(os.path.join(cfg.output_dir, "final"), os.path.join(cfg.output_dir, "final"))
    merged, mtok = llm.load_for_inference(merged_dir)
    a = [p["output"] for p in inference.predict_cci(model, tok, dev, progress=False)]
    b = [p["output"] for p in inference.predict_cci(merged, mtok, dev, progress=False)]
    assert sum(x == y for x, y in zip(a, b)) >= len(dev) - 1
    peft_dir = llm.merge_adapter(os.path.join(cfg.output_dir, "final"), tmp_path / "merged-peft", how="cpu")
    peft_merged, _ = llm.load_for_inference(peft_dir)
    c = [p["output"] for p in inference.predict_cci(peft_merged, mtok, dev, progress=False)]
    assert sum(x == y for x, y in zip(b, c)) >= len(dev) - 1  # shard by shard = peft's merge


@pytest.mark.slow
def test_entry_point_runs_as_two_ddp_processes(tiny_llm_dir, tmp_path):
    """torchrun with two gloo ranks on the CPU: both finish, one adapter is saved."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KIT_OUTPUTS": str(tmp_path / "outputs")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "helpers.llm", "train", "--synthetic", "64", "--max-steps", "4", "--model-name", str(tiny_llm_dir),
           "--output-dir", str(tmp_path / "ddp"), "--save-steps", "100"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "rank 0/2 done" in res.stdout and "rank 1/2 done" in res.stdout
    assert res.stdout.count("saved ->") == 1
    assert (tmp_path / "ddp" / "final" / "adapter_model.safetensors").is_file()


def test_engine_selection_on_a_cpu(monkeypatch):
    assert llm.resolve_engine("auto") == "hf"          # no CUDA here: never unsloth
    assert llm.resolve_engine("hf") == "hf"
    with pytest.raises(KitError, match="needs a CUDA GPU"):
        llm.resolve_engine("unsloth")
    with pytest.raises(ValueError):
        llm.resolve_engine("fast")
    import importlib.util
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "unsloth" else object())
    assert llm.resolve_engine("auto") == "hf"          # a GPU without unsloth installed
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    assert llm.resolve_engine("auto") == "unsloth"     # a GPU with unsloth: the fast engine
    monkeypatch.setenv("KIT_ENGINE", "hf")
    assert llm.resolve_engine("auto") == "hf"          # KIT_ENGINE=hf keeps the plain path, read in one place
    from helpers import runtime
    from helpers.core import hardware
    monkeypatch.setattr(hardware, "gpu_info", lambda: ("H100", 80.0, True))
    monkeypatch.setattr(runtime, "gpu_info", hardware.gpu_info)
    assert runtime.detect().engine == "hf"
    monkeypatch.delenv("KIT_ENGINE")
    assert runtime.detect().engine == "unsloth" and runtime.detect().precision == "bf16"


def test_token_budget_training_groups_by_length_and_keeps_the_effective_batch(tiny_llm_dir, tmp_path):
    seen = []
    records = synthetic.synthetic_cci(48, seed=5)
    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path), max_tokens_per_batch=1024,
                              per_device_batch_size=4, gradient_accumulation_steps=4, epochs=1.0,
                              min_optimizer_steps=0)
    model, tok = llm.load_model(cfg)
    model = llm.add_adapters(model, cfg)
    decoder = model.get_base_model().get_decoder()  # the answer-only head runs the decoder itself
    original = decoder.forward

    def spy(*args, **kw):
        seen.append(tuple(kw["input_ids"].shape))
        return original(*args, **kw)

    decoder.forward = spy
    result = llm.train(cfg, records, model=model, tokenizer=tok)
    assert sum(b for b, _ in seen) == len(records)               # every example once per epoch
    assert all(b * n <= 1024 or b == 1 for b, n in seen)          # padded tokens within the budget
    assert len({b for b, _ in seen}) > 1                          # batch size follows the lengths
    lengths = [len(e["input_ids"]) for e in llm.sft_examples(records, tok, cfg)]
    sampler = llm.TokenBudgetSampler(lengths, 1024, seed=0)
    first, second = list(iter(sampler)), list(iter(sampler))
    assert sorted(map(tuple, first)) == sorted(map(tuple, second)) and first != second   # reshuffled per epoch
    mean_batch = len(records) / len(sampler)
    assert result.log_history[-1]["step"] == pytest.approx(len(sampler) / round(16 / mean_batch), abs=1)


def test_auto_budget_grows_with_the_card(tiny_llm_dir):
    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), max_length=1024)
    small = llm.auto_token_budget(cfg, "hf", gpu_gib=2)
    large = llm.auto_token_budget(cfg, "hf", gpu_gib=40)
    assert 1024 <= small < large


def test_inference_loading_merges_when_asked(trained_cci):
    model, tok, cfg, dev = trained_cci
    final = os.path.join(cfg.output_dir, "final")
    merged, mtok = llm.load_for_inference(final, merge=True)
    assert not hasattr(merged, "peft_config")                    # a plain model: adapters folded in
    kept, _ = llm.load_for_inference(final)                      # auto on a CPU: as trained (4-bit + LoRA)
    assert hasattr(kept, "peft_config")
    a = [p["output"] for p in inference.predict_cci(merged, mtok, dev, progress=False)]
    b = [p["output"] for p in inference.predict_cci(kept, mtok, dev, progress=False)]
    assert sum(x == y for x, y in zip(a, b)) >= len(dev) - 1


def test_remote_code_needs_a_pinned_revision():
    from helpers.llm.engines import _remote_code_kwargs

    with pytest.raises(KitError, match="pinned revision"):
        _remote_code_kwargs(llm.LLMConfig(model_name="some-org/model", trust_remote_code=True))
    kw = _remote_code_kwargs(llm.LLMConfig(model_name="some-org/model", trust_remote_code=True, revision="0123abc"))
    assert kw == {"trust_remote_code": True, "revision": "0123abc"}
    assert _remote_code_kwargs(llm.LLMConfig(model_name="some-org/model")) == {"trust_remote_code": False}


def test_command_line_flags_and_json_recipes_come_from_the_dataclass(tmp_path):
    from transformers import HfArgumentParser

    from helpers.llm.__main__ import TrainArgs

    parser = HfArgumentParser((llm.LLMConfig, TrainArgs))
    cfg, args = parser.parse_args_into_dataclasses(["--lora-r", "8", "--max-tokens-per-batch", "4096",
                                                    "--target-modules", "q_proj", "v_proj", "--task", "dcs"])
    assert (cfg.lora_r, cfg.max_tokens_per_batch, cfg.target_modules, args.task) == (8, 4096, ["q_proj", "v_proj"], "dcs")
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"lora_r": 4, "max_tokens_per_batch": "auto", "task": "sc"}), encoding="utf-8")
    cfg, args = parser.parse_json_file(str(recipe))
    assert (cfg.lora_r, cfg.max_tokens_per_batch, args.task) == (4, "auto", "sc")
    assert "LoRA rank" in parser.format_help()


def test_smoke_config_with_a_model_name_builds_no_tiny_model(tmp_path, monkeypatch):
    from helpers.llm import tiny

    monkeypatch.setattr(tiny, "tiny_model_dir", lambda *a, **k: pytest.fail("built a tiny model"))
    cfg = llm.LLMConfig.smoke(model_name="x")
    assert cfg.model_name == "x" and cfg.per_device_batch_size == 8


def test_small_data_gets_a_schedule_that_learns_and_logs(tiny_llm_dir, tmp_path, capsys):
    """Full mode on the shipped samples (a T4 without the NIKL files): 24 records, an effective
    batch of 64 would make a single optimizer step inside warm-up with nothing logged."""
    cfg = llm.LLMConfig(model_name=str(tiny_llm_dir), output_dir=str(tmp_path), epochs=1.0, save_steps=1000,
                        gradient_checkpointing=False)          # the full recipe: batch 1 × 64, warm-up 20
    result = llm.train(cfg, synthetic.synthetic_cci(40, seed=2))
    out = capsys.readouterr().out
    assert "only 40 training records" in out and "data/README.md" in out
    assert result.log_history[-1]["step"] >= 30                   # enough optimizer steps to learn
    assert len(result.losses) >= 5                                 # and a loss curve that shows something


def test_training_after_a_prediction_on_the_cpu_keeps_every_gradient(tiny_llm_dir, tmp_path):
    """bitsandbytes repacks 4-bit weights for its CPU inference kernel on the first eval
    forward, and that kernel has no backward (gradients silently dropped): the kit's loader
    keeps the training layout, so gradients after a prediction equal those of a fresh model."""
    import torch

    from helpers import llm

    def gradients(predict_first: bool):
        torch.manual_seed(0)
        cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path))
        model, tok = llm.load_model(cfg)
        model = llm.add_adapters(model, cfg)
        ids = tok("안녕하세요 오늘 날씨가 좋네요", return_tensors="pt")["input_ids"]
        if predict_first:
            model.eval()
            with torch.no_grad():
                model(input_ids=ids)
            model.train()
        model(input_ids=ids, labels=ids).loss.backward()
        return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    fresh, after = gradients(False), gradients(True)
    assert fresh.keys() == after.keys() and len(fresh) > 0
    for name in fresh:
        assert torch.allclose(fresh[name], after[name], atol=1e-6), name


def _oom_over(limit: int, after_calls: int = 0):
    """A collator that raises torch's out-of-memory error for a batch of more than ``limit``
    padded tokens, or on every call after ``after_calls`` calls when that is set."""
    import torch

    from helpers.batching import AnswerOnlyCollator

    original = AnswerOnlyCollator.__call__
    calls = {"n": 0}

    def collate(self, features):
        batch = original(self, features)
        calls["n"] += 1
        if (after_calls and calls["n"] > after_calls) or (not after_calls and batch["input_ids"].numel() > limit):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 84.00 MiB (simulated)")
        return batch

    return collate


@pytest.mark.parametrize("max_length, checkpointed, fits_without, expected", [
    (1024, 16, 4, False),   # 4 x 1,024 = the measured 4,096 tokens fit without: off (+31-43 % measured)
    (1024, 16, 2, True),    # 2,048 tokens: not measured, so on
    (1024, 2, 2, False),    # checkpointing allows only 2 and those fit without: off
    (1024, 2, 1, True),
    (512, 16, 4, True),     # 4 x 512 = 2,048 tokens: below the measured 4,096, so on
    (512, 16, 8, False),
])
def test_auto_checkpointing_turns_off_where_the_measured_tokens_fit_without_it(monkeypatch, max_length, checkpointed,
                                                                                 fits_without, expected):
    import importlib

    train = importlib.import_module("helpers.llm.train")  # the module (helpers.llm.train is also the function)
    monkeypatch.setattr(train, "_budget_sequences", lambda cfg, engine, gib, ckpt, most: checkpointed)
    monkeypatch.setattr(train, "_fits", lambda cfg, engine, gib, ckpt, n: ckpt or n <= fits_without)
    cfg = llm.LLMConfig(model_name="MLP-KTLim/llama-3-Korean-Bllossom-8B", max_length=max_length)
    assert train.use_checkpointing(cfg, "unsloth", 80.0) is expected


def test_a_token_budget_that_runs_out_of_memory_is_halved_before_anything_is_learned(tiny_llm_dir, tmp_path,
                                                                                    monkeypatch, capsys):
    from helpers import llm, synthetic
    from helpers.batching import AnswerOnlyCollator

    monkeypatch.setattr(AnswerOnlyCollator, "__call__", _oom_over(limit=1024))
    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path), max_tokens_per_batch=4096,
                              max_length=256, epochs=1.0, min_optimizer_steps=0)
    result = llm.train(cfg, synthetic.synthetic_cci(48, seed=0), resume=False)
    out = capsys.readouterr().out
    assert "token budget 4096 ran out of GPU memory" in out and "token budget 2048 ran out" in out
    assert "restarting with 1024" in out and "restarting with 512" not in out
    assert any("loss" in r for r in result.log_history) and (result.adapter_dir / "adapter_config.json").is_file()


def test_running_out_of_memory_after_learning_started_says_what_to_lower(tiny_llm_dir, tmp_path, monkeypatch):
    from helpers import llm, synthetic
    from helpers.batching import AnswerOnlyCollator
    from helpers.core.messages import KitError

    monkeypatch.setattr(AnswerOnlyCollator, "__call__", _oom_over(limit=0, after_calls=3))
    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path), max_tokens_per_batch=1024,
                              max_length=256, epochs=1.0, gradient_accumulation_steps=1, min_optimizer_steps=0)
    with pytest.raises(KitError, match=r"out of GPU memory .after [1-9]\d* optimizer steps.*max_tokens_per_batch"):
        llm.train(cfg, synthetic.synthetic_cci(48, seed=0), resume=False)


def test_checkpoints_also_come_by_the_clock(tiny_llm_dir, tmp_path):
    """With save_steps beyond the run's length the only checkpoint is the final one; with
    save_minutes one also comes before the end (a Colab disconnect then loses at most that much)."""
    from helpers import llm, synthetic

    def steps(out):
        return sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))

    records = synthetic.synthetic_cci(24, seed=0)
    base = dict(model_name=str(tiny_llm_dir), epochs=1.0, save_steps=10**6, min_optimizer_steps=0)
    off = llm.train(llm.LLMConfig.smoke(output_dir=str(tmp_path / "off"), save_minutes=0, **base), records,
                    resume=False)
    last = off.log_history[-1]["step"]
    assert steps(tmp_path / "off") in ([], [last])
    llm.train(llm.LLMConfig.smoke(output_dir=str(tmp_path / "clock"), save_minutes=1e-9, **base), records,
              resume=False)
    assert any(s < last for s in steps(tmp_path / "clock")), steps(tmp_path / "clock")
