"""The one reading and writing path for the kit's files: data, gold, predictions, submissions.

- Reading detects the encoding: UTF-8 (with or without a BOM) and UTF-16 (by its BOM) are
  read as they are; a CP949/EUC-KR file (Excel and Windows Notepad write those) is read with a
  notice that says how to convert it. Whole-file JSON is tried before JSON lines.
- Every error names the file and, where it can, the line, record and field (:class:`DataError`).
- Writing is atomic: a unique temporary file in the same folder, fsync, rename; the temporary
  file is removed when anything fails. A writer refuses an output that is one of its inputs.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"
    >>> _ = write_json([{"id": "a", "답": "예"}, {"id": "b"}], p, jsonl=True)
    >>> p.read_text(encoding="utf-8").splitlines()[0]
    '{"id": "a", "답": "예"}'
    >>> read_json_records(p)
    [{'id': 'a', '답': '예'}, {'id': 'b'}]

A one-line JSON-lines file is also a whole JSON object: callers that expect a list wrap it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .messages import KitError, msg

__all__ = [
    "Problem",
    "DataError",
    "read_text",
    "read_json_records",
    "write_json",
    "write_text",
    "append_jsonl",
    "refuse_overwrite",
    "read_predictions",
]


# ----------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    """Where a file breaks its schema: file, record index, record id, field, what is wrong."""

    file: str
    index: int | None
    record_id: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.index is not None:
            where.append(msg(f"레코드 #{self.index}", f"record #{self.index}"))
        if self.record_id:
            where.append(f"id={self.record_id}")
        if self.field:
            where.append(msg(f"필드 '{self.field}'", f"field '{self.field}'"))
        return f"{', '.join(where)}: {self.message}"


class DataError(KitError):
    """A file that does not match its expected layout; ``problems`` lists every problem found
    (the message shows the first few)."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:5])
        n = len(self.problems)
        more = msg(f"\n  ... 그 밖에 {n - 5}건", f"\n  ... and {n - 5} more") if n > 5 else ""
        super().__init__(msg(f"파일 오류 {n}건:", f"{n} problem(s) in the file:") + f"\n{shown}{more}")


def file_error(path: str | os.PathLike, ko: str, en: str, *, index: int | None = None) -> DataError:
    """A :class:`DataError` with one problem about the whole file (or one record of it)."""
    return DataError([Problem(str(path), index, None, None, msg(ko, en))])


# ----------------------------------------------------------------------------- reading

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def read_text(path: str | os.PathLike, *, notice: bool = True) -> str:
    """The text of ``path``, whatever its encoding among UTF-8, UTF-16 (BOM) and CP949/EUC-KR.

    A CP949 file is read with a notice on stderr naming the conversion command; a file that
    is none of these raises :class:`DataError` naming the byte offset.
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "파일이 없습니다" if not path.exists() else "파일이 아닙니다 (폴더입니다)",
                         "no such file" if not path.exists() else "not a file (a folder)")
    raw = path.read_bytes()
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(enc)
            except UnicodeDecodeError as err:
                raise file_error(path, f"{enc} 파일인데 {err.start}번째 바이트를 읽을 수 없습니다",
                                 f"{enc} file with an undecodable byte at offset {err.start}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as utf8_err:
        try:
            text = raw.decode("cp949")
        except UnicodeDecodeError:
            raise file_error(path, f"UTF-8 파일이 아닙니다 ({utf8_err.start}번째 바이트). UTF-8로 저장해 주세요",
                             f"not UTF-8 (byte offset {utf8_err.start}); save it as UTF-8") from None
        if notice:
            print(msg(f"알림: {path}는 CP949(EUC-KR)로 저장된 파일이라 그렇게 읽었습니다. UTF-8로 바꾸려면: "
                      f"iconv -f cp949 -t utf-8 '{path}' > utf8.json",
                      f"notice: {path} is CP949 (EUC-KR); read as such. To convert it: "
                      f"iconv -f cp949 -t utf-8 '{path}' > utf8.json"), file=sys.stderr)
        return text


def _json_problem(path: Path, err: json.JSONDecodeError) -> Problem:
    return Problem(str(path), None, None, None,
                   msg(f"JSON 형식 오류: {err.lineno}번째 줄 {err.colno}열 ({err.msg})",
                       f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}"))


def _no_nul(value: Any, path: Path) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise file_error(path, "NUL 문자(\\u0000)가 들어 있습니다", "contains a NUL character (\\u0000)")


def read_json_records(path: str | os.PathLike, *, allow_torn_tail: bool = False) -> Any:
    """Parse a whole-file JSON value (array or object), else JSON lines (one value a line).

    With ``allow_torn_tail`` a JSON-lines file whose *last* line is cut off (an interrupted
    append) loses that line, with a warning; anywhere else a bad line is an error naming it.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
    >>> _ = p.write_text('{"id": 1}\\n{"id": 2}\\n{"id"', encoding="utf-8")
    >>> read_json_records(p, allow_torn_tail=True)  # doctest: +ELLIPSIS
    [{'id': 1}, {'id': 2}]
    """
    path = Path(path)
    text = read_text(path)
    stripped = text.strip()
    if not stripped:
        raise file_error(path, "빈 파일입니다", "empty file")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as whole_err:
        if not stripped.startswith("{"):  # a broken array or scalar: the whole-file error says where
            raise DataError([_json_problem(path, whole_err)]) from None
    else:
        _check_nul(value, path)
        return value
    lines = text.splitlines()
    last = max(i for i, line in enumerate(lines) if line.strip())
    records = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if allow_torn_tail and lineno - 1 == last and records:
                print(msg(f"경고: {path}의 마지막 줄({lineno}번째)이 잘려 있어 버립니다 (중단된 기록)",
                          f"warning: dropping the cut-off last line {lineno} of {path} (an interrupted write)"),
                      file=sys.stderr)
                break
            raise DataError([Problem(str(path), len(records), None, None,
                                     msg(f"{lineno}번째 줄의 JSON이 잘못되었습니다 ({err.msg}, {err.colno}열)",
                                         f"malformed JSON on line {lineno}, column {err.colno}: {err.msg}"))]) from None
    _check_nul(records, path)
    return records


def _check_nul(value: Any, path: Path) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        else:
            _no_nul(v, path)


# ----------------------------------------------------------------------------- writing


def refuse_overwrite(out: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """Raise :class:`KitError` when ``out`` is the same file as one of ``inputs``.

    >>> refuse_overwrite("a.json", ["b.json"])
    >>> refuse_overwrite("a.json", ["./a.json"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    helpers.core.messages.KitError: ...
    """
    target = Path(out).resolve()
    for inp in inputs:
        if inp is not None and Path(inp).resolve() == target:
            raise KitError(msg(f"출력 파일 {out}이(가) 입력 파일과 같습니다: 입력을 덮어쓰지 않습니다. 다른 이름을 주세요",
                               f"output {out} is one of the inputs: refusing to overwrite it; choose another name"))


def write_text(text: str, path: str | os.PathLike, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically (unique temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def dumps(obj: Any, *, jsonl: bool = False) -> str:
    """UTF-8 JSON text with Korean unescaped (one value a line when ``jsonl``)."""
    if jsonl:
        return "".join(json.dumps(rec, ensure_ascii=False, allow_nan=False) + "\n" for rec in obj)
    return json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def write_json(obj: Any, path: str | os.PathLike, *, jsonl: bool = False,
               inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write JSON (or JSON lines) atomically; refuses ``path`` if it is one of ``inputs``."""
    refuse_overwrite(path, inputs)
    return write_text(dumps(obj, jsonl=jsonl), path)


def append_jsonl(records: Iterable[dict], path: str | os.PathLike) -> Path:
    """Append records as JSON lines and fsync (a resumable file: an interrupted append leaves at
    most a torn last line, which :func:`read_json_records` can drop)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False, allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return path


# ----------------------------------------------------------------------------- predictions


def read_predictions(path: str | os.PathLike, *, allow_torn_tail: bool = False) -> list[dict]:
    """The records of a kit prediction file (JSON lines or an array of ``{"id", "output", …}``),
    a submission in the official layout, or an ``{id: output}`` object (made into records).

    The header line of a resumable prediction file (``{"kit_header": …}``) is left out; every
    record must have a string ``id``. Value checks against a task belong to
    :func:`helpers.predictions.check_predictions`.
    """
    raw = read_json_records(path, allow_torn_tail=allow_torn_tail)
    if isinstance(raw, dict):
        if "id" in raw:
            raw = [raw]
        else:
            return [{"id": str(k), "output": v} for k, v in raw.items()]
    if not isinstance(raw, list):
        raise file_error(path, "예측 파일은 레코드 목록이어야 합니다", "a prediction file must hold a list of records")
    out = []
    for i, rec in enumerate(raw):
        if isinstance(rec, dict) and "kit_header" in rec:
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
            raise DataError([Problem(str(path), i, None, "id", msg("id(문자열)가 없는 레코드입니다",
                                                                   "record without a string id"))])
        out.append(rec)
    return out
