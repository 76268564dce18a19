import json
import math
import subprocess
import sys

import pytest

from helpers import inference, llm, metrics, synthetic

# ---------------------------------------------------------------- official metrics, by hand

LONG_REF = "두 화자는 제주도 여행을 다녀왔다고 말했다"   # 두/화자/는/제주/도/여행/을/다녀왔/다고/말/했/다


def test_rouge1_units_follow_the_definition():
    assert metrics.rouge1_tokens("그는 KTX-이음을 2021년에 탔다.") == ["그", "는", "ktx", "이음", "을", "2021", "년", "에", "탔", "다"]
    assert metrics.rouge1_tokens("「처용의 밤」을 썼다!!") == ["처용", "의", "밤", "을", "썼", "다"]
    assert metrics.rouge1_tokens(" ".join(["가"] * 1500), "whitespace") == ["가"] * 1000   # first 1000 words only


@pytest.mark.parametrize("pred, ref, expected", [
    ("두 화자는 여행을 했다", LONG_REF, 2 * 1 * (7 / 12) / (1 + 7 / 12)),     # 7 of 7 predicted units in 12
    ("그는 ktx 이음을 탔다", "그는 KTX-이음을 2021년에 탔다.", 2 * 1 * 0.7 / 1.7),   # Latin lowercased, digits kept
    ("「처용의 밤」을 썼다!!", "처용의 밤을 썼다", 1.0),                           # punctuation does not count
    ("여행을", "여행이", 0.5),                                                     # particles are their own units
    ("", "처용의 밤을 썼다", 0.0),                                                  # empty prediction
    ("다 다 다", "다", 2 * (1 / 3) * 1 / (1 / 3 + 1)),                             # clipped counts
])
def test_rouge1_f_by_hand(pred, ref, expected):
    assert metrics.rouge1_f(pred, ref) == pytest.approx(expected)


def test_rouge1_without_mecab_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mecab", None)   # import mecab now raises ImportError
    metrics._mecab.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"python-mecab-ko is not installed.*pip install python-mecab-ko"):
            metrics.rouge1(["여행을"], ["여행이"])
    finally:
        metrics._mecab.cache_clear()


def test_rouge1_is_the_mean_percentage_and_tokenisation_matters():
    assert metrics.rouge1(["여행을", ""], ["여행이", "처용"]) == pytest.approx(25.0)
    assert metrics.rouge1(["여행을"], ["여행이"], tokenize="whitespace") == 0.0
    assert metrics.rouge1(["여행을"], ["여행이"], tokenize="char") == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="2 predictions vs 1"):
        metrics.rouge1(["a", "b"], ["a"])


@pytest.mark.parametrize("pred, ref, expected", [
    ("두 화자는 여행을 했다", LONG_REF, math.exp(1 - 12 / 7)),                         # precision 1, brevity penalty
    ("그는 ktx 이음을 탔다", "그는 KTX-이음을 2021년에 탔다.", 6 / 7 * math.exp(1 - 12 / 7)),  # raw text: case kept
    ("「처용의 밤」을 썼다!!", "처용의 밤을 썼다", 6 / 10),                              # raw text: symbols count
    ("", "처용의 밤을 썼다", 0.0),
])
def test_bleu_by_hand(pred, ref, expected):
    assert metrics.bleu([pred], [ref]) == pytest.approx(100 * expected)


def test_model_based_scores_are_skipped_not_faked_offline():
    scores = metrics.model_based_scores(["가"], ["가"])
    assert set(scores) == {"BERTScore", "BLEURT"}
    assert all(isinstance(v, str) and v.startswith("skipped:") for v in scores.values())


def test_cli_generation_scores_two_files(tmp_path):
    gold = [{"id": "a", "input": {"sentence1": "x", "sentence3": "y"}, "output": "처용의 밤을 썼다"},
            {"id": "b", "input": {"sentence1": "x", "sentence3": "y"}, "output": "여행이"}]
    (tmp_path / "gold.jsonl").write_text("\n".join(json.dumps(g, ensure_ascii=False) for g in gold), encoding="utf-8")
    (tmp_path / "pred.json").write_text(json.dumps([dict(gold[0], output="「처용의 밤」을 썼다!!"), dict(gold[1], output="여행을")],
                                                   ensure_ascii=False), encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "helpers.metrics", "generation", str(tmp_path / "gold.jsonl"), str(tmp_path / "pred.json")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"ROUGE-1": 75.0, "BLEU": round(100 * (0.6 + 0.5) / 2, 2)}


# ---------------------------------------------------------------- generation machinery


def test_clean_generation_and_task_configs():
    assert inference.clean_generation("두 화자는\n\n여행에   대해\t이야기했다. ") == "두 화자는 여행에 대해 이야기했다."
    assert inference.GenerationConfig.for_task("sc").num_beams > 1
    assert inference.GenerationConfig.for_task("dcs").num_beams == 1
    sampled = inference.GenerationConfig(do_sample=True, temperature=0.7, top_p=0.9).generate_kwargs()
    assert sampled["temperature"] == 0.7 and sampled["do_sample"]


def test_synthetic_generation_sets_are_consistent():
    dcs = synthetic.synthetic_dcs(20, seed=0)
    assert all(r.output == synthetic.synthetic_summary(r.subject_keyword[0]) for r in dcs)
    sc = synthetic.synthetic_sc(20, seed=0)
    assert {r.output for r in sc} <= set(synthetic.STORY_MIDDLES.values())


@pytest.fixture(scope="module")
def trained_gen(tiny_llm_dir, tmp_path_factory):
    from helpers.runtime import seed_everything

    seed_everything(0, threads=2)
    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path_factory.mktemp("gen")), epochs=4.0)
    model, tok = llm.load_model(cfg)
    model = llm.add_adapters(model, cfg)
    dev = synthetic.synthetic_dcs(16, seed=7, split="dev")
    greedy = inference.GenerationConfig(max_new_tokens=32, batch_size=8)
    before = inference.generate_outputs(model, tok, dev, greedy)
    res = llm.train(cfg, synthetic.synthetic_dcs(320, seed=0), model=model, tokenizer=tok)
    model, tok = res.model, res.tokenizer
    return model, tok, dev, before, greedy


def test_training_lifts_rouge_far_above_the_untrained_model(trained_gen):
    model, tok, dev, before, greedy = trained_gen
    after = inference.generate_outputs(model, tok, dev, greedy)
    refs = [r.output for r in dev]
    r_before = metrics.rouge1([before[r.id] for r in dev], refs)
    r_after = metrics.rouge1([after[r.id] for r in dev], refs)
    assert r_before < 20 and r_after >= 80, (r_before, r_after)


def test_batched_greedy_equals_one_at_a_time(trained_gen):
    model, tok, dev, _, greedy = trained_gen
    prompts = [llm.prompt_and_answer(r, tok)[0] for r in dev]
    assert len({len(tok(p)["input_ids"]) for p in prompts}) > 3      # different lengths: left padding used
    batched = inference.generate_texts(model, tok, prompts, greedy, progress=False)
    single = [inference.generate_texts(model, tok, [p], greedy, progress=False)[0] for p in prompts]
    differ = [i for i, (b, s) in enumerate(zip(batched, single)) if b != s]
    # Left padding changes the numerics slightly; an output may flip only where greedy decoding
    # met a near-tie (top-2 probabilities within NEAR_TIE before the outputs part).
    for i in differ:
        margin = inference.near_tie_margin(model, tok, prompts[i], batched[i], greedy.max_new_tokens)
        assert margin < inference.NEAR_TIE, (batched[i], single[i], margin)
    assert len(differ) <= len(prompts) // 8, differ


def test_near_tie_margin_is_large_where_two_outputs_agree_and_the_model_is_sure(trained_gen):
    """A trained model's own greedy output agrees to the end: the smallest gap is the model's
    least certain step, large for the learned task; a made-up different text stops the walk at
    its first character (a confident first step: no near-tie to blame)."""
    model, tok, dev, _, greedy = trained_gen
    prompt = llm.prompt_and_answer(dev[0], tok)[0]
    own = inference.generate_texts(model, tok, [prompt], greedy, progress=False)[0]
    assert inference.near_tie_margin(model, tok, prompt, own, greedy.max_new_tokens) >= inference.NEAR_TIE
    assert inference.near_tie_margin(model, tok, prompt, "전혀 다른 말", greedy.max_new_tokens) >= inference.NEAR_TIE


def test_token_budget_batches_respect_the_budget():
    lengths = [30, 5, 12, 50, 7, 7, 22]
    batches = inference.token_budget_batches(lengths, max_tokens=60, max_batch=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3 and (max(lengths[i] for i in b) * len(b) <= 60 or len(b) == 1)
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)   # shortest first


def test_generation_batches_count_unsloths_decoding_cache_against_the_gpus_budget(tiny_llm_dir, monkeypatch):
    """On a GPU, a generation batch fits the budget of the memory left with each row counted as
    its decoding holds it: once (prompt + new tokens) for transformers, twice plus unsloth's slack
    for a model unsloth loaded (it copies the cache into its own longer buffer). Lesson 07's
    sampled report ran out of a 15 GiB cap in unsloth's decoding with one copy counted. A budget
    the user gives (``max_tokens``) counts plain tokens."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from helpers import batching
    from helpers.batching import prompt_token_ids
    from helpers.llm import engines

    model = AutoModelForCausalLM.from_pretrained(tiny_llm_dir)
    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    prompts = ["가나다 " * n for n in (1, 3, 5, 8)]
    plain = [len(ids) + 2 for ids in prompt_token_ids(tok, prompts)]
    seen = []
    real = batching.token_budget_batches
    monkeypatch.setattr(batching, "token_budget_batches", lambda lengths, budget, n=None: seen.append((lengths, budget))
                        or real(lengths, budget, n))
    monkeypatch.setattr(engines, "generation_token_budget", lambda model, num_beams=1: 4000)   # a GPU's
    gen = inference.GenerationConfig(max_new_tokens=2, batch_size=4)
    engines.HFEngine().generate(model, tok, prompts, gen, progress=False)
    import types

    plain_generate = model.generate

    def unsloth_fast_generate(self, *args, **kwargs):   # what unsloth puts in place of generate
        return plain_generate(*args, **kwargs)

    model.generate = types.MethodType(unsloth_fast_generate, model)
    engines.HFEngine().generate(model, tok, prompts, gen, progress=False)
    engines.HFEngine().generate(model, tok, prompts, inference.GenerationConfig(max_new_tokens=2, max_tokens=64), progress=False)
    assert seen == [(plain, 4000), ([2 * n + engines.UNSLOTH_DECODE_SLACK for n in plain], 4000), (plain, 64)]


def test_generation_is_quiet_with_a_saved_max_length(tiny_llm_dir):
    """A checkpoint whose generation config carries ``max_length`` (unsloth saves one) made
    transformers warn on every batch that ``max_new_tokens`` overrides it; the kit's generation
    sets it aside during the call and restores it."""
    import logging

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from helpers import preference

    model, tok = AutoModelForCausalLM.from_pretrained(tiny_llm_dir), AutoTokenizer.from_pretrained(tiny_llm_dir)
    model.generation_config.max_length = 8192
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Keep(level=logging.WARNING)
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        model.generate(**tok(["안녕하세요"], return_tensors="pt"), max_new_tokens=3, do_sample=False)
        assert any("max_length" in m for m in seen)  # the notice this test is about, unprotected
        seen.clear()
        inference.generate_texts(model, tok, ["안녕하세요", "반갑습니다"], inference.GenerationConfig(max_new_tokens=3),
                                 progress=False)
        preference.sample_completions(model, tok, ["안녕하세요"], max_new_tokens=3)
        inference.near_tie_margin(model, tok, "안녕하세요", "네", max_new_tokens=2)
    finally:
        logger.removeHandler(handler)
    assert not [m for m in seen if "max_length" in m], seen
    assert model.generation_config.max_length == 8192


def test_loading_a_model_says_so_when_the_gpu_still_holds_another(tiny_llm_dir, tmp_path, monkeypatch, capsys):
    """Before loading, the kit's loaders say when what the GPU already holds leaves no room for the
    model in 85 % of the card: lesson 07 under a T4's 15 GiB ran out of memory with its DPO
    adapter loaded while the GRPO model was most likely still held, and the traceback said how
    much was allocated, not by what. Nothing is said when the model fits beside what is held,
    when it would not fit even alone, or on a CPU. Memory another process holds counts too."""
    import importlib
    from dataclasses import replace

    import torch

    from helpers import preference, synthetic
    from helpers.core import hardware
    from helpers.llm import LLMConfig

    train_module = importlib.import_module("helpers.llm.train")   # helpers.llm.train is also the function
    monkeypatch.setattr(hardware, "gpu_info", lambda: ("Tesla T4", 15.0, False))
    gpu = {"held": 0.25, "free": 100.0}
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: gpu["held"] * 2**30)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (gpu["free"] * 2**30, 141 * 2**30))
    cfg = LLMConfig(model_name="MLP-KTLim/llama-3-Korean-Bllossom-8B", method="qlora", max_length=1024)
    notice = train_module.held_gpu_notice   # the 8B in 4 bits with a batch of 8 x 1,024: about 7.4 GiB
    assert notice(cfg) is None
    gpu["held"] = 5.0                                   # 5.0 + 7.4 within 12.75
    assert notice(cfg) is None
    gpu["held"] = 0.4                                   # under the 0.5 GiB floor: no model is held here
    gpu["free"] = 7.0
    assert notice(cfg) is None
    gpu["held"], gpu["free"] = 1.0, 5.0                 # another process holds most of the card
    assert notice(cfg).startswith("notice: the GPU already holds 1.0 GiB")
    gpu["held"], gpu["free"] = 6.0, 100.0
    note = notice(cfg)
    assert note.startswith("notice: the GPU already holds 6.0 GiB") and "15 GiB card" in note
    assert "runtime.free_memory()" in note
    gpu["held"] = 4.0                                   # training one sequence needs about 9.4 GiB
    assert notice(cfg) is None and notice(cfg, training=True).startswith("notice: the GPU already holds 4.0 GiB")
    assert notice(replace(cfg, method="lora")) is None   # 16-bit 8B does not fit 15 GiB at all
    assert notice(replace(cfg, model_name=str(tmp_path / "nowhere"))) is None   # no shape to estimate: no notice
    monkeypatch.setattr(hardware, "gpu_info", lambda: None)
    assert notice(cfg) is None

    said = []   # each loader says it first
    monkeypatch.setattr(train_module, "held_gpu_notice", lambda cfg, training=False: said.append(training) or "NOTICE")
    tiny = LLMConfig.smoke(model_name=str(tiny_llm_dir), method="lora", output_dir=str(tmp_path / "run"),
                           logging_steps=1)
    model, tok = train_module.load_model(tiny)
    adapter = train_module.save_adapter(train_module.add_adapters(model, tiny), tok, tiny, tmp_path / "adapter")
    preference.load_policy(tiny)
    preference.load_policy(tiny, adapter)
    train_module.load_for_inference(adapter)
    train_module.train(tiny, synthetic.synthetic_cci(8, seed=1), resume=False, max_steps=1)
    assert said == [True, True, True, False, True]
    assert capsys.readouterr().out.splitlines().count("NOTICE") == 5


def test_scoring_batches_fit_what_the_gpu_has_left(tiny_llm_dir, monkeypatch):
    """On a GPU a scoring batch holds no more padded tokens than the memory left holds
    (``engines.scoring_token_budget``; the caller's budget if smaller). Lesson 07 under a 15 GiB
    cap ran out of memory scoring 8,192 tokens at a time with a second 8B model loaded. On a CPU
    the caller's budget stands. (The tiny model's budget is large; the doctest of
    ``forward_token_budget`` gives the 8B's.)"""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from helpers import batching
    from helpers.core import hardware
    from helpers.llm import engines

    model = AutoModelForCausalLM.from_pretrained(tiny_llm_dir)
    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    prompts = ["가나다 " * n for n in (1, 3, 5, 8)]
    seen = []
    real = batching.token_budget_batches
    monkeypatch.setattr(batching, "token_budget_batches", lambda lengths, budget, n=None: seen.append(budget)
                        or real(lengths, budget, n))
    everything = 10**6   # a caller's budget above anything the memory allows
    first = inference.score_options(model, tok, prompts, max_tokens=everything, progress=False)   # a CPU: it stands
    monkeypatch.setattr(hardware, "gpu_info", lambda: ("Tesla T4", 15.0, False))
    gpu = {"held": 12.7}
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: gpu["held"] * 2**30)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (100 * 2**30, 141 * 2**30))
    room = engines.scoring_token_budget(model)   # 12.75 - 12.7 GiB left: the 0.25 GiB floor
    assert room == engines.forward_token_budget(model.config, 0.25) < everything
    again = inference.score_options(model, tok, prompts, max_tokens=everything, progress=False)
    gpu["held"] = 0.3
    inference.score_options(model, tok, prompts, max_tokens=64, progress=False)      # the caller's smaller budget
    assert seen == [everything, room, 64]
    assert again == first   # the same probabilities, batched differently
