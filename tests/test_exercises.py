"""The lessons' exercises: every id a notebook checks exists, every worked solution in
``solutions/`` is judged 정답, wrong answers are judged 오답, and no answer never fails a lesson."""

import json
import re
from pathlib import Path

import pytest

from helpers import exercises
from helpers.runtime import repo_root

ROOT = repo_root()
CHECK_CALL = re.compile(r"""exercises\.check\(\s*["']([^"']+)["']""")
SECTION = re.compile(r"^## (\S+)", re.MULTILINE)
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _lessons() -> list[Path]:
    """Every notebook (later lessons may add exercises of their own)."""
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def _lessons_with_exercises() -> list[Path]:
    """The lessons 00–07, each of which has exercises (08 checks its one exercise in the cell)."""
    lessons = {e.lesson for e in exercises.EXERCISES.values()}
    return [p for p in _lessons() if p.name.split("_")[0] in lessons]


def _checked_ids(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            found += CHECK_CALL.findall(src)
    return found


def _solutions() -> dict[str, str]:
    """Exercise id -> the last ```python block of its ``## <id>`` section in solutions/*.md."""
    out = {}
    for path in sorted((ROOT / "solutions").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        heads = list(SECTION.finditer(text))
        for head, nxt in zip(heads, heads[1:] + [None]):
            body = text[head.end(): nxt.start() if nxt else len(text)]
            blocks = PYTHON_BLOCK.findall(body)
            if head.group(1) in exercises.EXERCISES and blocks:
                out[head.group(1)] = blocks[-1]
    return out


SOLUTIONS = _solutions()


@pytest.fixture(autouse=True)
def samples_only(tmp_path, monkeypatch):
    """Solutions are written for the shipped samples: hide any real data under data/raw."""
    monkeypatch.setenv("KIT_DATA_DIR", str(tmp_path / "no-real-data"))
    monkeypatch.setenv("KIT_OUTPUTS", str(tmp_path / "outputs"))


def _answer_of(exercise_id: str):
    scope: dict = {}
    exec(SOLUTIONS[exercise_id], scope)  # noqa: S102 - our own solution files
    assert "answer" in scope, f"solutions: the last python block of {exercise_id} must set `answer`"
    return scope["answer"]


def test_every_checked_id_exists_and_every_exercise_is_in_a_lesson():
    used = {}
    for path in _lessons():
        for ex_id in _checked_ids(path):
            assert ex_id in exercises.EXERCISES, f"{path.name} checks unknown exercise {ex_id!r}"
            assert path.name.startswith(exercises.EXERCISES[ex_id].lesson + "_"), f"{ex_id} checked in {path.name}"
            used.setdefault(ex_id, path.name)
    assert set(used) == set(exercises.EXERCISES), set(exercises.EXERCISES) - set(used)


def test_each_lesson_has_two_or_three_exercises():
    found = _lessons_with_exercises()
    assert [p.name.split("_")[0] for p in found] == ["00", "01", "02", "03a", "03b", "04", "05", "06", "07"]
    for path in found:
        lesson = path.name.split("_")[0]
        n = len(exercises.ids(lesson))
        assert 2 <= n <= 3, f"{path.name}: {n} exercises"
        assert len(_checked_ids(path)) == n, f"{path.name}: each exercise is checked exactly once"


def test_every_exercise_has_a_solution_file_section():
    assert set(SOLUTIONS) == set(exercises.EXERCISES)
    for ex_id, ex in exercises.EXERCISES.items():
        lesson_file = next((ROOT / "solutions").glob(f"{ex.lesson}_*.md"))
        assert f"## {ex_id} " in lesson_file.read_text(encoding="utf-8"), f"{ex_id} not in {lesson_file.name}"


@pytest.mark.parametrize("exercise_id", sorted(exercises.EXERCISES))
def test_solution_is_judged_correct(exercise_id):
    result = exercises.grade(exercise_id, _answer_of(exercise_id))
    assert result.status == "정답", result.message
    assert "정답" in result.message and "오답" not in result.message


def _near_miss(answer):
    """A wrong answer close to the right one: off by one, one character more, one item changed."""
    if isinstance(answer, bool):
        return not answer
    if isinstance(answer, int):
        return answer + 1
    if isinstance(answer, float):
        return answer + 0.05
    if isinstance(answer, str):
        return answer + "x"
    if isinstance(answer, (list, tuple)):
        return type(answer)(list(answer)[:-1] + [_near_miss(list(answer)[-1])]) if answer else ["x"]
    raise TypeError(type(answer))


@pytest.mark.parametrize("exercise_id", sorted(exercises.EXERCISES))
def test_wrong_answers_are_judged_wrong_with_a_hint(exercise_id, capsys):
    for wrong in (_near_miss(_answer_of(exercise_id)), "틀린 답", -1, 2.5, [], ["x", "y"], {"a": 1}):
        result = exercises.grade(exercise_id, wrong)
        assert result.status == "오답", (wrong, result)
        assert "오답" in result.message and "힌트:" in result.message
    exercises.check(exercise_id, "틀린 답")
    assert "오답" in capsys.readouterr().out


def test_no_answer_yet_is_reported_not_raised(capsys):
    for ex_id in exercises.EXERCISES:
        exercises.check(ex_id, None)
        out = capsys.readouterr().out
        assert "아직 답이 없습니다" in out and "정답입니다" not in out and "오답" not in out


def test_unknown_exercise_is_an_error():
    with pytest.raises(KeyError):
        exercises.grade("99-9", 1)


def test_notebook_exercise_cells_hold_a_placeholder_not_a_solution():
    """The cell before each check holds `answer = None`: the lessons run under nbval without the
    student's answer, and the answers live in solutions/ only."""
    for path in _lessons():
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell["cell_type"] == "code" and CHECK_CALL.search(src):
                before = cells[i - 1]
                prev = "".join(before["source"]) if isinstance(before["source"], list) else before["source"]
                assert before["cell_type"] == "code" and re.search(r"^answer = None\b", prev, re.MULTILINE), (
                    f"{path.name}: the cell before {CHECK_CALL.search(src).group(1)} must set `answer = None`")
