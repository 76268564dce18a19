"""Fuzzing every file-reading command line with mutated sample files (seeded, bounded).

Each example takes a shipped sample file, mutates it (truncation, a byte flip, re-encoding to
CP949 / UTF-16, a deleted or retyped field, a duplicated id) and runs the command lines that
read such a file. It asserts:

- no traceback: every command returns an exit status (an exception escaping ``main`` is a bug);
- invalid input gives a non-zero status and a message naming the file (and, for schema
  problems, the record and field); a mutation that is invalid by construction is never accepted;
- an output file that already existed is unchanged when a command fails.

The tally is written to ``outputs/fuzz_summary.json`` (the closing note quotes it).
"""

import contextlib
import io
import json
import random
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import data, ensemble, korquad, metrics, submission
from helpers.core.paths import outputs_dir

SOURCES = [("cci", "train"), ("cci", "test"), ("dcs", "dev"), ("dcs", "test"), ("sc", "dev"), ("sc", "test"),
           ("korquad", "dev")]
MUTATIONS = ["truncate", "flip", "cp949", "utf16", "delete", "retype", "duplicate", "empty", "nul"]
TALLY = {"inputs": 0, "commands": 0, "tracebacks": 0, "silent_acceptances": 0, "data_lost": 0}


def _records(task, raw):
    if task == "korquad":
        return [qa for art in raw["data"] for para in art["paragraphs"] for qa in para["qas"]]
    return raw


def mutate(task, split, kind, rnd):
    """``(bytes, name, invalid)``: the mutated file and whether it is invalid by construction
    (None: it may or may not be)."""
    path = data.sample_file(task, split)
    text = path.read_text(encoding="utf-8")
    ext = path.suffix
    if kind == "truncate":
        cut = rnd.randrange(1, len(text) - 1)
        lines_ok = task == "sc" and text[:cut].endswith("\n")
        return text[:cut].encode("utf-8"), ext, None if lines_ok else True
    if kind == "flip":
        raw = bytearray(text.encode("utf-8"))
        raw[rnd.randrange(len(raw))] ^= 1 << rnd.randrange(8)
        return bytes(raw), ext, None
    if kind == "cp949":
        return text.encode("cp949"), ext, False       # read with a notice: valid
    if kind == "utf16":
        return text.encode("utf-16"), ext, False      # BOM: valid
    if kind == "empty":
        return b"" if rnd.random() < 0.5 else (b"[]" if ext == ".json" else b"\n"), ext, True
    if kind == "nul":
        return text.replace("다", "\\u0000다", 1).encode("utf-8"), ext, True
    raw = data.read_json_records(path)
    recs = _records(task, raw)
    rec = recs[rnd.randrange(len(recs))]
    if kind == "duplicate":
        recs.append(json.loads(json.dumps(rec)))
        if task == "korquad":
            raw["data"][0]["paragraphs"][0]["qas"].append(recs[-1])
    elif kind == "delete":
        target = rec if task == "korquad" or rnd.random() < 0.3 else rec["input"]
        key = rnd.choice(sorted(k for k in target if k != "output"))
        del target[key]
    elif kind == "retype":
        target = rec if task == "korquad" else rec["input"]
        key = rnd.choice(sorted(target))
        target[key] = rnd.choice([7, None, {"x": 1}, True])
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in raw) if ext == ".jsonl" \
        else json.dumps(raw, ensure_ascii=False)
    return body.encode("utf-8"), ext, True


def _run(main, argv):
    out, err = io.StringIO(), io.StringIO()
    TALLY["commands"] += 1
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except Exception as exc:  # a traceback: the kit's bug, never the input's
        TALLY["tracebacks"] += 1
        raise AssertionError(f"traceback for {argv}: {type(exc).__name__}: {exc}") from exc
    return code, out.getvalue() + err.getvalue()


def _commands(task, split, mutated, tmp):
    """``(main, argv, output path or None)`` of every command line that reads ``mutated``."""
    test = data.sample_file(task, "test") if task != "korquad" else None
    out = tmp / ("out" + mutated.suffix)
    cmds = [(data.main, ["check", str(mutated), "--task", task], None)]
    if task == "korquad":
        preds = tmp / "preds.json"
        preds.write_text(json.dumps({q.id: q.answers[0].text for q in data.load_korquad(data.sample_file("korquad", "dev"))},
                                    ensure_ascii=False), encoding="utf-8")
        cmds.append((korquad.main, ["evaluate", str(mutated), str(preds)], None))
        cmds.append((korquad.main, ["evaluate", str(data.sample_file("korquad", "dev")), str(mutated)], None))
        return cmds
    if split == "test":
        cmds.append((submission.main, ["check", "--task", task, str(mutated), str(test)], None))
        cmds.append((submission.main, ["write", "--task", task, str(test), str(mutated), "-o", str(out)], out))
        if task == "cci":
            cmds.append((ensemble.main, ["--vote", "hard", str(mutated), str(mutated), "-o", str(out)], out))
    else:
        cmds.append((metrics.main, ["generation", str(data.sample_file(task, split)), str(mutated)], None)
                    if task != "cci" else (data.main, ["check", str(mutated), "--task", task], None))
    return cmds


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(source=st.sampled_from(SOURCES), kind=st.sampled_from(MUTATIONS), seed=st.integers(0, 10**6))
def test_mutated_files_never_crash_or_pass_in_silence(tmp_path_factory, source, kind, seed):
    task, split = source
    tmp = tmp_path_factory.mktemp("fuzz")
    body, ext, invalid = mutate(task, split, kind, random.Random(seed))
    mutated = tmp / f"mutated-{split}{ext}"
    mutated.write_bytes(body)
    TALLY["inputs"] += 1
    for main, argv, out in _commands(task, split, mutated, tmp):
        if out is not None:
            out.write_text("earlier output\n", encoding="utf-8")
        code, text = _run(main, argv)
        if code != 0:
            assert mutated.name in text, (argv, text)   # the message names the file
            if out is not None and out.read_text(encoding="utf-8") != "earlier output\n":
                TALLY["data_lost"] += 1
                raise AssertionError(f"{argv} failed and changed {out}")
        elif invalid and argv[0] == "check" and main is data.main:
            TALLY["silent_acceptances"] += 1
            raise AssertionError(f"{kind} of {task}/{split} accepted: {text[:300]}")
        if invalid is False and main is data.main:
            assert code == 0, (kind, text)        # re-encoded files are read, with a notice


def test_zz_write_the_tally():
    """Runs after the fuzz test (alphabetical order within the module): the figures it saw."""
    path = outputs_dir() / "fuzz_summary.json"
    path.write_text(json.dumps(TALLY, indent=2) + "\n", encoding="utf-8")
    assert TALLY["inputs"] >= 100 and TALLY["tracebacks"] == TALLY["silent_acceptances"] == TALLY["data_lost"] == 0


def test_cp949_file_is_read_with_a_conversion_hint(tmp_path, capsys):
    path = tmp_path / "cci_train.json"
    path.write_bytes(data.sample_file("cci", "train").read_text(encoding="utf-8").encode("cp949"))
    assert len(data.load_cci(path)) == 60
    assert "iconv -f cp949 -t utf-8" in capsys.readouterr().err


def test_undecodable_file_names_the_file_and_offset(tmp_path):
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe\xfa" + b"\x00\xd8" * 3)
    code, text = _run(data.main, ["check", str(path), "--task", "cci"])
    assert code == 1 and "binary.json" in text


def test_every_entry_point_turns_a_missing_file_into_one_message(tmp_path):
    missing = str(tmp_path / "nope.json")
    for main, argv in [(data.main, ["check", missing, "--task", "cci"]),
                       (metrics.main, ["generation", missing, missing]),
                       (ensemble.main, [missing, missing, "-o", str(tmp_path / "o.jsonl")]),
                       (submission.main, ["check", "--task", "cci", missing, missing]),
                       (korquad.main, ["evaluate", missing, missing])]:
        code, text = _run(main, argv)
        assert code == 1 and "nope.json" in text and "Traceback" not in text, (argv, text)


def test_prediction_readers_reject_bad_values(tmp_path):
    test = data.sample_file("cci", "test")
    ids = [r.id for r in data.load_cci(test)]
    good = {"inference_1": 0.2, "inference_2": 0.5, "inference_3": 0.3}
    cases = {
        "duplicate": [{"id": ids[0], "output": "inference_2", "probs": good}] * 2,
        "nan": [{"id": ids[0], "output": "inference_2", "probs": {**good, "inference_1": float("nan")}}],
        "label": [{"id": ids[0], "output": "inference_9", "probs": good}],
        "partial": [{"id": ids[0], "output": "inference_2", "probs": {"inference_2": 1.0}}],
        "text-prob": [{"id": ids[0], "output": "inference_2", "probs": {**good, "inference_3": "0.3"}}],
    }
    for name, rows in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        out = tmp_path / "ens.jsonl"
        code, text = _run(ensemble.main, ["--vote", "soft", str(path), str(path), "-o", str(out)])
        assert code == 1 and path.name in text and not out.exists(), (name, text)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"id": "not-an-id", "output": "inference_1", "probs": good}) + "\n", encoding="utf-8")
    code, text = _run(submission.main, ["write", "--task", "cci", str(test), str(wrong), "-o", str(tmp_path / "s.json")])
    assert code == 1 and "no id of" in text


def test_writers_refuse_to_overwrite_their_inputs(tmp_path):
    test = tmp_path / "test.json"
    shutil.copy(data.sample_file("cci", "test"), test)
    before = test.read_bytes()
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": r.id, "output": "inference_1"}) + "\n" for r in data.load_cci(test)),
                     encoding="utf-8")
    code, text = _run(submission.main, ["write", "--task", "cci", str(test), str(preds), "-o", str(test)])
    assert code == 1 and "is one of the inputs" in text and test.read_bytes() == before
    code, text = _run(ensemble.main, [str(preds), str(preds), "-o", str(preds)])
    assert code == 1 and "is one of the inputs" in text
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_korquad_evaluate_reports_wrong_ids(tmp_path):
    dev = data.sample_file("korquad", "dev")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"x-1": "서울", "x-2": "1987년"}), encoding="utf-8")
    code, text = _run(korquad.main, ["evaluate", str(dev), str(wrong)])
    assert code == 1 and "no id of" in text
    some = tmp_path / "some.json"
    first = data.load_korquad(dev)[0]
    some.write_text(json.dumps({first.id: first.answers[0].text, "extra-id": "x"}, ensure_ascii=False), encoding="utf-8")
    code, text = _run(korquad.main, ["evaluate", str(dev), str(some)])
    assert code == 0 and "have no prediction" in text and "not in" in text


def test_training_rejects_a_bad_file_before_loading_a_model(tmp_path, monkeypatch):
    from helpers.llm import __main__ as cli
    from helpers.llm import engines

    bad = tmp_path / "train.json"
    bad.write_text(json.dumps([{"id": "x", "input": {}}]), encoding="utf-8")
    monkeypatch.setattr(engines.HFEngine, "load", lambda *a, **k: pytest.fail("the model was loaded"))
    code, text = _run(cli.main, ["train", "--task", "cci", "--train", str(bad), "--model-name", str(tmp_path),
                                 "--output-dir", str(tmp_path / "o")])
    assert code == 1 and "train.json" in text and "input.conversation" in text
