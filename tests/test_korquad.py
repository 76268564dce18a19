import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import korquad, synthetic, vocab
from helpers.data import Answer, QAExample, load_korquad, sample_file
from helpers.korquad import QAConfig, exact_match_score, f1_score, normalize_answer

# ---------------------------------------------------------------- official metrics, by hand


@pytest.mark.parametrize("text, expected", [
    ("《서울(현 종로구)》", "서울 현 종로구"),
    ("  KTX-이음  ", "ktx이음"),
    ("'무정'과 〈흙〉", "무정 과 흙"),
    ("1,000원.", "1000원"),
    ("‘가’ “나”", "가 “나”"),   # curly double quotes are not in the official list
])
def test_normalize_answer_matches_the_official_rules(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match():
    assert exact_match_score("《1987년》", "1987년")
    assert exact_match_score("KTX-이음", "ktx이음")
    assert not exact_match_score("1987년 3월", "1987년")


@pytest.mark.parametrize("pred, gold, expected", [
    ("1987년 3월", "1987년", 2 * (5 / 7) * 1 / (5 / 7 + 1)),   # 7 pred chars, 5 gold, 5 common
    ("서울(현 종로구)", "서울", 2 * (2 / 6) * 1 / (2 / 6 + 1)),
    ("세종대왕", "세종", 2 * 0.5 * 1 / 1.5),
    ("가나", "나가", 1.0),                                         # bag of characters
    ("가가나", "가나나", 2 / 3),                                   # clipped counts: 2 common of 3
    ("", "세종", 0.0),
    ("다른 답", "세종", 0.0),
])
def test_character_f1_by_hand(pred, gold, expected):
    assert f1_score(pred, gold) == pytest.approx(expected)


def test_evaluate_percentages_unanswered_and_best_gold():
    data = {"data": [{"title": "t", "paragraphs": [{"context": "x", "qas": [
        {"id": "a", "question": "?", "answers": [{"text": "세종대왕", "answer_start": 0}, {"text": "세종", "answer_start": 0}]},
        {"id": "b", "question": "?", "answers": [{"text": "1987년", "answer_start": 0}]},
        {"id": "c", "question": "?", "answers": [{"text": "서울", "answer_start": 0}]},
    ]}]}]}
    scores = korquad.evaluate(data, {"a": "세종", "b": "1987년 3월"})
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 10 / 12 + 0) / 3)


# ---------------------------------------------------------------- segmentation and offsets


@pytest.mark.parametrize("text", [
    "밥을 먹었다", "들어가신다", "KTX-이음은 2021년 1월에  개통했다.", "첫 줄\n둘째 줄\t셋째", "「처용의 밤」(1987)을 썼다",
    "", "ㅋㅋㅋ 진짜?!", "서울(현 종로구)에서 태어났다",
])
def test_segment_inserts_only_spaces_and_maps_back(text):
    seg = vocab.segment(text)
    assert "".join(ch for ch, o in zip(seg.text, seg.offsets) if o >= 0) == text
    assert all(text[o] == ch for ch, o in zip(seg.text, seg.offsets) if o >= 0)
    assert all(ch == " " for ch, o in zip(seg.text, seg.offsets) if o < 0)


def test_segment_cuts_at_morphemes_even_where_kiwi_overlaps():
    assert vocab.segment("밥을 먹었다").text == "밥 을 먹 었 다"
    assert vocab.segment("들어가신다").text == "들어가 신다"


def test_token_offsets_point_into_the_original_text(kit_tok):
    text = "대한민국 헌법은  1948년 7월 17일에\n제정되었다."
    tokens, offsets = kit_tok.tokenize_with_offsets(text)
    assert "[UNK]" not in tokens
    assert [text[s:e] for s, e in offsets] == [t.removeprefix("##") for t in tokens]


def test_tokenizer_saves_and_reloads_with_its_segmentation(kit_tok, tmp_path):
    kit_tok.save_pretrained(tmp_path / "tok")
    again = vocab.load_tokenizer(tmp_path / "tok")
    assert again.segmented and json.loads((tmp_path / "tok" / "tokenizer.json").read_text())["pre_tokenizer"]
    assert again.tokenize_with_offsets("밥을 먹었다") == kit_tok.tokenize_with_offsets("밥을 먹었다")


# ---------------------------------------------------------------- features and post-processing


def _example(context, answer, start=None, qid="q1", question="무엇인가?"):
    start = context.index(answer) if start is None else start
    return QAExample(qid, "t", context, question, [Answer(answer, start)])


def test_windows_overlap_and_answer_straddling_a_boundary(kit_tok):
    cfg = QAConfig(max_seq_length=32, doc_stride=8, max_query_length=8)
    filler = " ".join(f"문장{i}은 짧다." for i in range(12))
    ex = _example(filler + " 정답은 세종대왕이다. " + filler, "세종대왕")
    feats = korquad.build_features([ex], kit_tok, cfg)
    assert len(feats["input_ids"]) > 3 and all(len(x) == 32 for x in feats["input_ids"])
    inside = [i for i, s in enumerate(feats["start_positions"]) if s != 0]
    outside = [i for i, s in enumerate(feats["start_positions"]) if s == 0]
    assert inside and outside  # some windows hold the answer, the rest point at [CLS]
    for i in inside:
        offs = feats["offset_mapping"][i]
        s, e = feats["start_positions"][i], feats["end_positions"][i]
        assert ex.context[offs[s][0]:offs[e][1]] == "세종대왕"
    # consecutive windows share context tokens (the stride)
    spans = [[o for o in offs if o] for offs in feats["offset_mapping"]]
    assert all(a[-1][0] >= b[0][0] for a, b in zip(spans, spans[1:]))
    # a window that cuts the answer in half labels [CLS]
    cut = [i for i in outside if any(o and o[0] < ex.answers[0].answer_start + 4 <= o[1] or
                                      (o and ex.answers[0].answer_start <= o[0] < ex.answers[0].answer_start + 4)
                                      for o in feats["offset_mapping"][i])]
    assert all(feats["end_positions"][i] == 0 for i in cut)


class _DropsLastWindow:
    """A fast tokenizer that loses the last overflowing window, as tokenizers 0.23.1-0.23.2 do
    (huggingface/tokenizers#2091)."""

    def __init__(self, hf):
        self._hf = hf

    def __getattr__(self, name):
        return getattr(self._hf, name)

    def __call__(self, *args, **kwargs):
        from transformers import BatchEncoding

        enc = self._hf(*args, **kwargs)
        if not kwargs.get("return_overflowing_tokens"):
            return enc
        keep = len(enc["input_ids"]) - 1
        return BatchEncoding({k: v[:keep] for k, v in enc.items()}, encoding=enc.encodings[:keep], n_sequences=2)


def test_windows_that_stop_before_the_context_ends_are_an_error(kit_tok, monkeypatch):
    import copy

    cfg = QAConfig(max_seq_length=32, doc_stride=8, max_query_length=8)
    filler = " ".join(f"문장{i}은 짧다." for i in range(12))
    ex = _example(filler + " 정답은 세종대왕이다.", "세종대왕")
    assert len(korquad.build_features([ex], kit_tok, cfg)["input_ids"]) > 2  # the real tokenizer covers it
    broken = copy.copy(kit_tok)
    broken.hf = _DropsLastWindow(kit_tok.hf)
    with pytest.raises(ValueError, match=r"question q1: the sliding windows stop at context character \d+ of "
                                         rf"{len(ex.context)}\. the tokenizer \(.*\) drops overflowing windows"):
        korquad.build_features([ex], broken, cfg, train=False)
    import tokenizers

    monkeypatch.setattr(tokenizers, "__version__", "0.23.1")   # the versions with the bug are named, with the fix
    with pytest.raises(ValueError, match=r"tokenizers 0\.23\.1 drops overflowing windows .* "
                                         r"pip install 'tokenizers>=0\.23\.3'"):
        korquad.build_features([ex], broken, cfg)


@pytest.mark.parametrize("context, answer", [
    ("세종대왕은 조선의 제4대 왕이다.", "세종대왕"),                    # very start
    ("조선의 제4대 왕은 세종대왕", "세종대왕"),                          # very end
    ("그는  『작은   결정들의 세계』를\n썼다.", "『작은   결정들의 세계』"),  # spaces and brackets normalised by the tokenizer
    ("열차 이름은 KTX-이음(2021)이다.", "KTX-이음(2021)"),
    ("주소:\t서울시　종로구 1-2", "서울시　종로구 1-2"),                  # tab and ideographic space
])
def test_roundtrip_recovers_answers_at_edges_and_through_normalisation(kit_tok, context, answer):
    scores, preds, lost = korquad.roundtrip([_example(context, answer)], kit_tok, QAConfig(max_seq_length=48, doc_stride=16))
    assert lost == [] and preds["q1"] == answer and scores == {"exact_match": 100.0, "f1": 100.0}


@pytest.mark.parametrize("max_len, stride", [(512, 128), (128, 32), (64, 16)])
def test_roundtrip_is_exact_on_the_samples(kit_tok, max_len, stride):
    for split in ("train", "dev"):
        examples = load_korquad(sample_file("korquad", split))
        scores, _, lost = korquad.roundtrip(examples, kit_tok, QAConfig(max_seq_length=max_len, doc_stride=stride))
        assert lost == [] and scores["exact_match"] == 100.0


def test_postprocess_skips_question_tokens_and_long_spans(kit_tok):
    ex = _example("세종대왕은 한글을 만들었다.", "한글", question="누가 한글을 만들었나?")
    cfg = QAConfig(max_seq_length=48, doc_stride=16, max_answer_length=3)
    feats = korquad.build_features([ex], kit_tok, cfg, train=False)
    offs = feats["offset_mapping"][0]
    n = len(offs)
    start, end = np.zeros((1, n)), np.zeros((1, n))
    q_tok = next(i for i, o in enumerate(offs) if o is None and i > 0)   # a question token
    start[0, q_tok] = end[0, q_tok] = 100.0                              # best logits on the question: ignored
    ctx = [i for i, o in enumerate(offs) if o]
    start[0, ctx[0]] = 5.0
    end[0, ctx[-1]] = 50.0        # too long a span from ctx[0]
    end[0, ctx[1]] = 4.0
    pred = korquad.postprocess([ex], feats, start, end, cfg)["q1"]
    assert pred == ex.context[offs[ctx[0]][0]:offs[ctx[1]][1]]


def test_postprocess_picks_the_best_window(kit_tok):
    cfg = QAConfig(max_seq_length=32, doc_stride=8, max_query_length=8)
    ex = _example(" ".join(f"문장{i}은 짧다." for i in range(15)), "문장13")
    feats = korquad.build_features([ex], kit_tok, cfg)
    n, width = len(feats["input_ids"]), 32
    start, end = np.zeros((n, width)), np.zeros((n, width))
    good = next(i for i, s in enumerate(feats["start_positions"]) if s)
    start[good, feats["start_positions"][good]] = end[good, feats["end_positions"][good]] = 3.0
    other = (good + 1) % n
    start[other, 0] = end[other, 0] = 9.0   # [CLS] is never an answer
    assert korquad.postprocess([ex], feats, start, end, cfg)["q1"] == "문장13"


# ---------------------------------------------------------------- learning


def test_synthetic_task_is_consistent_and_the_baseline_is_weak():
    examples = synthetic.synthetic_qa(300, seed=3)
    assert all(e.context[a.answer_start:a.answer_start + len(a.text)] == a.text for e in examples for a in e.answers)
    base = korquad.evaluate_examples(examples, synthetic.positional_baseline_qa(examples))
    assert 15 < base["exact_match"] < 40  # right about 1 time in 4


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_tiny_bert_learns_synthetic_qa_well_above_the_baseline(kit_tok, tmp_path, seed):
    import torch
    from transformers import BertForQuestionAnswering

    from helpers.runtime import seed_everything

    seed_everything(seed, threads=2)
    train, dev = synthetic.synthetic_qa(1200, seed=seed + 10), synthetic.synthetic_qa(150, seed=seed + 20)
    cfg = QAConfig.smoke(seed=seed)
    model = BertForQuestionAnswering(korquad.tiny_bert_config(len(kit_tok)))
    history = korquad.train_qa(model, kit_tok, train, dev, cfg, tmp_path / "qa")
    baseline = korquad.evaluate_examples(dev, synthetic.positional_baseline_qa(dev))["exact_match"]
    final = history[-1]["exact_match"]
    assert final >= 80.0 and final >= baseline + 40, (history, baseline)
    # the saved model answers the same through the CLI
    out = tmp_path / "pred.json"
    from helpers.data import korquad_to_json, write_json

    write_json(korquad_to_json(dev[:20], "KorQuAD_v1.0_dev"), tmp_path / "dev.json")
    res = _cli("predict", "--model", str(tmp_path / "qa"), "--data", str(tmp_path / "dev.json"), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == korquad.predict(model.to(torch.float32), kit_tok, dev[:20], cfg)


# ---------------------------------------------------------------- CLI


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "helpers.korquad", *args], capture_output=True, text=True, encoding="utf-8")


def test_cli_evaluate(tmp_path):
    dataset = sample_file("korquad", "dev")
    examples = load_korquad(dataset)
    preds = {e.id: e.answers[0].text for e in examples[:16]}
    preds[examples[0].id] = "틀린 답"
    (tmp_path / "p.json").write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
    res = _cli("evaluate", str(dataset), str(tmp_path / "p.json"))
    assert res.returncode == 0, res.stderr
    scores = json.loads(res.stdout)
    assert scores["exact_match"] == pytest.approx(100 * 15 / len(examples))


def test_cli_roundtrip_writes_predictions(kit_tok, tmp_path):
    kit_tok.save_pretrained(tmp_path / "tok")
    res = _cli("roundtrip", str(sample_file("korquad", "dev")), "--tokenizer", str(tmp_path / "tok"), "--out", str(tmp_path / "r.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"exact_match": 100.0, "f1": 100.0}
    preds = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert preds == {e.id: e.answers[0].text for e in load_korquad(sample_file("korquad", "dev"))}


def test_a_plain_hub_style_tokenizer_skips_segmentation(tmp_path):
    """Any tokenizer folder or hub id without the kit's marker file is used as it is."""
    plain = vocab.train_wordpiece(["세종대왕은 한글을 만들었다."] * 5 + list(vocab.shipped_texts())[:300],
                                  vocab_size=2000, segmented=False)
    plain.hf.save_pretrained(tmp_path / "hub-like")          # no kit_tokenizer.json
    tok = vocab.load_tokenizer(tmp_path / "hub-like")
    assert not tok.segmented and tok.prepare("밥을 먹었다").text == "밥을 먹었다"
    cfg = QAConfig(max_seq_length=48, doc_stride=16)
    ex = _example("그는 세종대왕 시절에 한글을 만들었다.", "세종대왕")
    scores, preds, lost = korquad.roundtrip([ex], tok, cfg)
    assert lost == [] and preds["q1"] == "세종대왕"


def test_why_segment_an_answer_glued_to_its_particle(kit_tok):
    """Word-level subwords cannot end an answer before its particle; morpheme-level ones can."""
    plain = vocab.train_wordpiece(list(vocab.shipped_texts())[:300] + ["세종대왕은 한글을 만들었다."] * 5,
                                  vocab_size=2000, segmented=False)
    ex = _example("세종대왕은 한글을 만들었다.", "세종대왕")
    cfg = QAConfig(max_seq_length=48, doc_stride=16)
    assert korquad.roundtrip([ex], plain, cfg)[2] == ["q1"]      # "세종대왕은" is one token: lost
    assert korquad.roundtrip([ex], kit_tok, cfg)[2] == []


def test_lesson_03b_full_mode_runs_on_a_local_bert_folder(tmp_path, monkeypatch):
    """Lesson 03b's full-mode branch (the hub-BERT path: ``KIT_BERT_MODEL`` naming a local
    folder, the model's own tokenizer, the KorQuAD sample files, the CLI predict/evaluate)
    runs to the end through the GPU harness's lesson runner, on a small stand-in folder."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    monkeypatch.syspath_prepend(str(root / "bench"))
    import gpu_lessons

    folder = gpu_lessons.bert_standin(tmp_path / "bert", hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=128)
    monkeypatch.setenv("KIT_OUTPUTS", str(tmp_path / "outputs"))
    assert gpu_lessons.main(["03b", "--out", str(tmp_path / "run"), "--bert", str(folder), "--budget", "800"]) == 0
    row = json.loads((tmp_path / "run" / "gpu_lessons.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert row["rc"] == 0 and row["bert"] == str(folder)
    saved = json.loads((tmp_path / "outputs" / "korquad" / "qa-model" / "config.json").read_text(encoding="utf-8"))
    assert saved["hidden_size"] == 64 and saved["num_hidden_layers"] == 2   # the folder's BERT, not klue/bert-base
    assert (tmp_path / "outputs" / "korquad" / "predictions.json").is_file()
    log = (tmp_path / "run" / "03b_korquad_finetuning.log").read_text(encoding="utf-8")
    assert "FULL mode" in log and "기준선: None" not in log
