"""A task unlike the built-in ones, registered from outside the kit, runs from file to
submission without any other module changing: the redesign's proof.

``quiz5`` stores JSON lines; a record is either a five-option question (answer "1".."5",
read from the logits of A–E) or a free-text question whose answer is generated.
"""

import json
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from helpers import data, ensemble, inference, llm, predictions, prompts, submission, tasks
from helpers.tasks.base import Task, answer_text

LABELS = ("1", "2", "3", "4", "5")


@dataclass
class QuizRecord:
    id: str
    question: str
    options: list = field(default_factory=list)   # five options, or none for a free-text question
    output: str | None = None

    def to_dict(self):
        return {"id": self.id, "input": {"question": self.question, "options": list(self.options)},
                "output": self.output or ""}


class Quiz5(Task):
    name = "quiz5"
    title = ("오지선다 퀴즈", "five-option quiz")
    extension = "jsonl"
    record_type = QuizRecord
    generation = {"max_new_tokens": 8}

    def validate(self, raw, chk):
        for i, rid, rec, inp in chk.each(raw):
            chk.get(inp, "question", str, i, rid, "input.", nonempty=True)
            opts = chk.get(inp, "options", list, i, rid, "input.")
            if opts is not None and len(opts) not in (0, 5):
                chk.add(i, rid, "input.options", "선택지는 0개 또는 5개", "zero or five options")
            chk.output(rec, i, rid, allowed=LABELS if opts else None)

    def build(self, raw):
        return [QuizRecord(r["id"], r["input"]["question"], list(r["input"]["options"]), answer_text(r.get("output")))
                for r in raw]

    def texts(self, record):
        yield record.question

    def mode(self, record):
        return "choice" if record.options else "generation"

    def options(self, record):
        return record.options

    def labels(self, record):
        if record is None or not record.options:
            raise NotImplementedError
        return LABELS

    def messages(self, record, style="base"):
        lines = [record.question] + [f"{letter}. {o}" for letter, o in zip(self.letters(record), record.options)] \
            if record.options else [record.question]
        return [{"role": "user", "content": "\n".join(lines)}]

    def score(self, preds, records):
        gold = [r for r in records if r.output]
        return {"exact": 100.0 * sum(preds.get(r.id) == r.output for r in gold) / len(gold)}

    def synthetic(self, n, seed=42, split="train"):
        out = []
        for i in range(n):
            if i % 2:
                out.append(QuizRecord(f"quiz-{split}-{i}", f"{i}번 문제: 가장 큰 수는?",
                                      ["하나", "둘", "셋", "넷", "다섯"], "5"))
            else:
                out.append(QuizRecord(f"quiz-{split}-{i}", f"{i}번 문제: 인사말을 쓰세요.", [], "안녕하세요"))
        return out


@pytest.fixture
def quiz5():
    task = tasks.register(Quiz5())
    yield task
    tasks.unregister("quiz5")


def _cli(module, *args):
    return subprocess.run([sys.executable, "-m", f"helpers.{module}", *map(str, args)], capture_output=True, text=True)


def test_a_new_task_runs_from_file_to_submission(quiz5, tiny_llm_dir, tmp_path):
    train_path, test_path = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train = quiz5.synthetic(24, split="train")
    data.write_records("quiz5", train, train_path)
    test_raw = [{**r.to_dict(), "output": ""} for r in quiz5.synthetic(6, split="test")]
    test_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in test_raw), encoding="utf-8")

    # load and validate through the generic entry points
    assert [r.id for r in data.load("quiz5", train_path)] == [r.id for r in train]
    bad = [dict(test_raw[1], input={"question": "q", "options": ["a", "b"]})]
    assert [p.field for p in data.validate("quiz5", bad, "bad.jsonl")] == ["input.options"]
    test = data.load("quiz5", test_path)

    # prompts: five letters for a choice record, the answer letter as the target
    choice = next(r for r in train if r.options)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    assert "E. 다섯" in prompts.prompt("quiz5", choice, tok) and prompts.target("quiz5", choice) == "E"

    # train a few steps through the one training entry point
    cfg = llm.LLMConfig.smoke(model_name=str(tiny_llm_dir), output_dir=str(tmp_path / "run"), save_steps=100,
                                logging_steps=1)
    result = llm.train(cfg, train, max_steps=3)
    assert result.adapter_dir.is_dir() and result.losses

    # predict: choice records scored over five options, free-text ones generated
    pred_path = tmp_path / "pred.jsonl"
    preds = inference.predict_file(result.model, result.tokenizer, test, pred_path, progress=False)
    by_id = {p["id"]: p for p in preds}
    for r in test:
        if r.options:
            assert by_id[r.id]["output"] in LABELS and set(by_id[r.id]["probs"]) == set(LABELS)
        else:
            assert "probs" not in by_id[r.id] and isinstance(by_id[r.id]["output"], str)
    rows = predictions.load_predictions(pred_path, task="quiz5", records=test)
    assert len(rows) == len(test)

    # score through the task
    gold = quiz5.synthetic(6, split="test")
    assert 0 <= quiz5.score(predictions.outputs(rows), gold)["exact"] <= 100

    # submission: the writer and the checker ask the task
    filled = {p["id"]: (p["output"] or "빈 답") for p in preds}
    sub_path = submission.write_submission("quiz5", test_path, filled, tmp_path / "submission.jsonl")
    assert submission.check_submission("quiz5", sub_path, test_path) == []
    broken = {**filled, test[1].id: "6"}
    with pytest.raises(ValueError, match="invalid label '6'"):
        submission.write_submission("quiz5", test_path, broken, tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match="is one of the inputs"):
        submission.write_submission("quiz5", test_path, filled, test_path)   # never overwrite the test file

    # ensembling reads the task's labels
    votes = ensemble.ensemble_files([pred_path, pred_path], "soft", task="quiz5")
    assert {v["id"] for v in votes} == {r.id for r in test}


def test_registry_refuses_duplicates_and_unknown_names(quiz5):
    with pytest.raises(ValueError, match="already registered"):
        tasks.register(Quiz5())
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        tasks.get("nope")
    assert tasks.task_of(QuizRecord("x", "q")) is quiz5
    assert "quiz5" in submission.submission_tasks()


def test_builtin_tasks_answer_the_same_questions():
    """Every built-in task implements the interface the machinery asks for."""
    for name in ("cci", "dcs", "sc", "korquad"):
        task = tasks.get(name)
        records = task.load(data.sample_file(name, "dev"))
        assert records and task.synthetic(3) and list(task.corpus(records))
        gold = {r.id: task.gold(r) for r in records}
        assert all(v is not None for v in gold.values())
        scores = task.score(gold, records)
        assert max(scores.values()) == pytest.approx(100.0)   # the gold answers score full marks
