"""Refinement of chat conversations: the nine rules of the 2024 대화 맥락 추론 winner.

Each rule is a small function you can call on its own; :func:`refine` runs them in order
over records and reports what each rule changed.

    >>> remove_jamo("좋아ㅋㅋㅋ 내일 봐ㅠㅠ")
    '좋아 내일 봐'
    >>> expand_shorthand("ㅇㅇ 알겠어")
    '응 알겠어'

The rules never drop an utterance that a record's ``reference_id`` points at (the question
is about it), and the merge rule keeps every reference id valid.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .tasks.base import Utterance

__all__ = [
    "collapse_whitespace",
    "expand_shorthand",
    "shorten_punctuation",
    "remove_special_characters",
    "remove_greetings",
    "rename_anonymized",
    "remove_jamo",
    "drop_symbol_only",
    "merge_same_speaker",
    "Rule",
    "RULES",
    "RefineResult",
    "refine",
    "before_after",
    "near_duplicates",
    "refined_file",
]

_JAMO = "\u3131-\u318e"  # Hangul compatibility jamo: ㄱ … ㆎ
_JAMO_RUN = re.compile(f"[{_JAMO}]+")
_HANGUL = re.compile(f"[가-힣{_JAMO}]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]{2,}")


def _tidy(text: str) -> str:
    """Collapse runs of spaces left behind by a deletion and strip the ends."""
    return _SPACES.sub(" ", text).strip()


# ----------------------------------------------------------------------------- rule 1


def collapse_whitespace(text: str) -> str:
    """Rule 1: newlines become spaces and runs of whitespace become one space.

    >>> collapse_whitespace("아 진짜\\n\\n미치겠다   ㅋㅋ ")
    '아 진짜 미치겠다 ㅋㅋ'
    """
    return re.sub(r"\s+", " ", text).strip()


# ----------------------------------------------------------------------------- rule 2

#: Chat shorthand written in initial consonants, and what it means.
SHORTHAND: dict[str, str] = {
    "ㅇㅇ": "응",
    "ㅇㅋ": "오케이",
    "ㄱㅅ": "감사",
    "ㄴㄴ": "아니",
    "ㅈㅅ": "죄송",
    "ㅊㅋ": "축하",
    "ㄱㄱ": "가자",
    "ㅇㅈ": "인정",
    "ㅎㅇ": "하이",
    "ㅂㅂ": "바이",
    "ㅅㄱ": "수고",
    "ㄷㄷ": "덜덜",
    "ㄹㅇ": "리얼",
    "ㅇㄷ": "어디",
    "ㅁㅊ": "미친",
    "ㅎㄷㄷ": "후덜덜",
}


def _shorthand_of(run: str) -> str | None:
    """The meaning of a jamo run that is one shorthand, possibly repeated (ㅇㅇㅇ, ㅇㅋㅇㅋ)."""
    if len(set(run)) == 1 and len(run) >= 2 and run[:2] in SHORTHAND:
        return SHORTHAND[run[:2]]  # ㅇㅇㅇ, ㄴㄴㄴ
    for code, meaning in SHORTHAND.items():
        if len(run) % len(code) == 0 and run == code * (len(run) // len(code)):
            return meaning
    return None


def expand_shorthand(text: str) -> str:
    """Rule 2: replace consonant shorthand that stands on its own with its meaning.

    Laughter and crying (ㅋㅋ, ㅎㅎ, ㅠㅠ) are not shorthand: rule 7 removes them.

    >>> expand_shorthand("ㅇㅋㅇㅋ 내일 봐 ㅋㅋ ㄱㅅ!")
    '오케이 내일 봐 ㅋㅋ 감사!'
    """

    def sub(m: re.Match) -> str:
        meaning = _shorthand_of(m.group(0))
        if meaning is None:
            return m.group(0)
        before = text[m.start() - 1] if m.start() > 0 else " "
        after = text[m.end()] if m.end() < len(text) else " "
        pad_l = " " if before.isalnum() else ""
        pad_r = " " if after.isalnum() else ""
        return f"{pad_l}{meaning}{pad_r}"

    return _JAMO_RUN.sub(sub, text)


# ----------------------------------------------------------------------------- rule 3


def shorten_punctuation(text: str) -> str:
    """Rule 3: cut runs of repeated punctuation: dots to ``...``, ``?``/``!`` to two.

    >>> shorten_punctuation("진짜?????  그래서.......  와!!!! 뭐?!?!")
    '진짜??  그래서...  와!! 뭐?!'
    """
    text = re.sub(r"…+", "...", text)
    text = re.sub(r"\.{4,}", "...", text)
    text = re.sub(r"[?!]{3,}", lambda m: m.group(0)[:2], text)
    text = re.sub(r",{2,}", ",", text)
    return text


# ----------------------------------------------------------------------------- rule 4

#: Characters that carry no meaning in chat text (emoticon parts, decoration).
SPECIAL_CHARACTERS = "~@_/\\-:;()^*#=+|`♡♥★☆♪♬※"
_SPECIAL_RE = re.compile("[" + re.escape(SPECIAL_CHARACTERS) + "]")
_KEEP_BETWEEN = set("-:/")  # 010-1234, 10:30, 3/4, KTX-이음 keep their joiner


def remove_special_characters(text: str) -> str:
    """Rule 4: delete meaningless special characters (``~ @ _ / - : ; ( ) ^`` …).

    A ``-``, ``:`` or ``/`` between two letters or digits is kept (``10:30``, ``KTX-이음``).

    >>> remove_special_characters("헐;; (웃음) 좋아요~^^ 10:30에 KTX-이음 타자")
    '헐 웃음 좋아요 10:30에 KTX-이음 타자'
    """

    def sub(m: re.Match) -> str:
        ch, i = m.group(0), m.start()
        if ch in _KEEP_BETWEEN and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
            return ch
        return " "

    return _tidy(_SPECIAL_RE.sub(sub, text))


# ----------------------------------------------------------------------------- rule 5

#: Greeting and small-talk phrases that say nothing about the conversation's content.
GREETINGS = (
    "안녕하세요", "안녕하십니까", "안녕", "안뇽", "안녕안녕", "하이", "하이하이", "헬로", "방가방가",
    "반갑습니다", "반가워요", "반가워", "반갑습니당", "반가워용", "처음 뵙겠습니다",
    "잘 부탁드립니다", "잘 부탁드려요", "잘 부탁해", "hi", "hello",
)
_GREETING_SENTENCE = re.compile(
    r"^(?:(?:" + "|".join(sorted(map(re.escape, GREETINGS), key=len, reverse=True)) + r")"
    r"(?:\s*(?:name\d+|화자\d+)(?:님|씨|아|야)?)?[\s.!?~^ㅎㅋ]*)+$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?~])\s+")
# Long greeting forms are unambiguous even without punctuation after them ("안녕하세요 저는…").
_LEADING_GREETING = re.compile(r"^(?:안녕하세요|안녕하십니까|반갑습니다|반가워요|반갑습니당|하이하이|처음 뵙겠습니다)[\s.!?~^]+")


def remove_greetings(text: str) -> str:
    """Rule 5: delete sentences that are only greetings (안녕하세요, 반갑습니당, 하이하이).

    >>> remove_greetings("안녕하세요~ 오늘 회의 몇 시예요?")
    '오늘 회의 몇 시예요?'
    >>> remove_greetings("반갑습니당!!")
    ''
    """
    kept = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if not _GREETING_SENTENCE.match(sentence.strip()):
            sentence = _LEADING_GREETING.sub("", sentence)
        if sentence and not _GREETING_SENTENCE.match(sentence.strip()):
            kept.append(sentence)
    return " ".join(kept)


# ----------------------------------------------------------------------------- rule 6


def rename_anonymized(text: str) -> str:
    """Rule 6: anonymised names ``name1``, ``name2`` become ``화자1``, ``화자2``.

    >>> rename_anonymized("name1아 내일 name2 씨도 와?")
    '화자1아 내일 화자2 씨도 와?'
    """
    return re.sub(r"(?<![A-Za-z])name(\d+)", r"화자\1", text)


# ----------------------------------------------------------------------------- rule 7


def remove_jamo(text: str) -> str:
    """Rule 7: delete fragments made only of single jamo (ㅋㅋ, ㅠㅠ, ㅠㅡㅠ, ㅋㄱㅋㄲㅋ).

    >>> remove_jamo("ㅋㄱㅋㄲㅋ 그건 좀ㅠㅡㅠ")
    '그건 좀'
    """
    return _tidy(_JAMO_RUN.sub(" ", text))


# ----------------------------------------------------------------------------- rules 8, 9


def is_symbol_only(text: str) -> bool:
    """True for text with no Hangul and no letter or digit (``...``, ``?!``, ``😂``).

    >>> is_symbol_only("?!"), is_symbol_only("OK"), is_symbol_only("ㅋㅋ")
    (True, False, False)
    """
    return not _HANGUL.search(text) and not any(ch.isalnum() for ch in text)


def drop_symbol_only(conv: list[Utterance], refs: Sequence[str]) -> tuple[list[Utterance], list[str]]:
    """Rule 8: drop utterances with no Hangul that are only symbols (referenced ones stay)."""
    keep = [u for u in conv if not is_symbol_only(u.utterance) or u.utterance_id in refs]
    return keep, list(refs)


def merge_same_speaker(conv: list[Utterance], refs: Sequence[str]) -> tuple[list[Utterance], list[str]]:
    """Rule 9: merge consecutive utterances of one speaker into the first one's id.

    Reference ids that pointed at a merged utterance now point at the merged one.

    >>> u = [Utterance(1, "밥 먹었어?", "d.1.1"), Utterance(1, "난 아직", "d.1.2"), Utterance(2, "응", "d.1.3")]
    >>> conv, refs = merge_same_speaker(u, ["d.1.2"])
    >>> [x.utterance for x in conv], refs
    (['밥 먹었어? 난 아직', '응'], ['d.1.1'])
    """
    merged: list[Utterance] = []
    remap: dict[str | None, str | None] = {}
    for u in conv:
        if merged and merged[-1].speaker == u.speaker:
            last = merged[-1]
            merged[-1] = dataclasses.replace(last, utterance=f"{last.utterance} {u.utterance}".strip())
            remap[u.utterance_id] = last.utterance_id
        else:
            merged.append(u)
            remap[u.utterance_id] = u.utterance_id
    new_refs: list[str] = []
    for r in refs:
        target = remap.get(r, r)
        if target not in new_refs:
            new_refs.append(target)
    return merged, new_refs


# ----------------------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class Rule:
    """One refinement step: a text rule (``str -> str``) or a conversation rule."""

    name: str
    description: str
    fn: Callable
    kind: str = "text"  # "text" | "conversation"


RULES: tuple[Rule, ...] = (
    Rule("whitespace", "개행·공백 반복 축약", collapse_whitespace),
    Rule("shorthand", "초성체를 본래 의미로 대체 (ㅇㅇ → 응)", expand_shorthand),
    Rule("punctuation", "반복 문장부호 축약 (..... → ..., ???? → ??)", shorten_punctuation),
    Rule("special_chars", "의미 없는 특수문자 삭제 (~ @ _ / - : ; ( ) ^)", remove_special_characters),
    Rule("greetings", "내용과 무관한 인사말 삭제", remove_greetings),
    Rule("anonymized_names", "익명화 표기 변경 (name1 → 화자1)", rename_anonymized),
    Rule("jamo", "자음·모음만 있는 조각 삭제 (ㅋㅋ, ㅠㅠ)", remove_jamo),
    Rule("symbol_only", "한글 없이 기호만 있는 발화 삭제", drop_symbol_only, "conversation"),
    Rule("merge_speaker", "같은 화자의 연속 발화 병합", merge_same_speaker, "conversation"),
)


@dataclass
class RuleStats:
    rule: str
    description: str
    records_changed: int = 0
    utterances_changed: int = 0
    utterances_dropped: int = 0
    chars_before: int = 0
    chars_after: int = 0

    @property
    def chars_removed(self) -> int:
        return self.chars_before - self.chars_after


@dataclass
class RefineResult:
    """Refined records plus what every rule did."""

    records: list
    stats: list[RuleStats] = field(default_factory=list)

    def report(self):
        """A DataFrame with one row per rule: records/utterances changed, characters removed."""
        import pandas as pd

        rows = [
            {
                "rule": s.rule,
                "설명": s.description,
                "records_changed": s.records_changed,
                "utterances_changed": s.utterances_changed,
                "utterances_dropped": s.utterances_dropped,
                "chars_removed": s.chars_removed,
            }
            for s in self.stats
        ]
        return pd.DataFrame(rows).set_index("rule")


def _refs(record) -> list[str]:
    return list(getattr(record, "reference_id", []) or [])


def _apply_text_rule(fn, conv: list[Utterance], refs: Sequence[str]) -> tuple[list[Utterance], int]:
    """Apply a text rule to every utterance; drops emptied ones unless referenced."""
    out, changed = [], 0
    for u in conv:
        new = fn(u.utterance)
        if not new.strip() and u.utterance_id in refs:
            new = u.utterance  # the question is about this turn: never empty it
        if new != u.utterance:
            changed += 1
        if new.strip():
            out.append(dataclasses.replace(u, utterance=new))
    return out, changed


def _apply(rule: Rule, record, stats: RuleStats):
    conv, refs = list(record.conversation), _refs(record)
    before_chars = sum(len(u.utterance) for u in conv)
    if rule.kind == "text":
        new_conv, changed = _apply_text_rule(rule.fn, conv, refs)
        new_refs = refs
    else:
        new_conv, new_refs = rule.fn(conv, refs)
        changed = sum(1 for u in new_conv if u not in conv)
    after_chars = sum(len(u.utterance) for u in new_conv)
    dropped = len(conv) - len(new_conv)
    stats.utterances_changed += changed
    stats.utterances_dropped += dropped
    stats.chars_before += before_chars
    stats.chars_after += after_chars
    if changed or dropped or new_refs != refs:
        stats.records_changed += 1
    updates = {"conversation": new_conv}
    if hasattr(record, "reference_id"):
        updates["reference_id"] = new_refs
    return dataclasses.replace(record, **updates)


def refine(records: Sequence, rules: Sequence[Rule] | Sequence[str] | None = None) -> RefineResult:
    """Run the rules in order over records that have a ``conversation`` (cci, dcs).

    ``rules`` picks a subset by object or name (default: all nine, in order). The input
    records are left untouched.

    >>> from helpers.data import load_cci, sample_file
    >>> res = refine(load_cci(sample_file("cci", "dev")))
    >>> list(res.report().index)[:3]
    ['whitespace', 'shorthand', 'punctuation']
    """
    chosen = [r if isinstance(r, Rule) else _rule(r) for r in (rules or RULES)]
    stats = [RuleStats(r.name, r.description) for r in chosen]
    out = []
    for record in records:
        for rule, st in zip(chosen, stats):
            record = _apply(rule, record, st)
        out.append(record)
    return RefineResult(out, stats)


def _rule(name: str) -> Rule:
    for r in RULES:
        if r.name == name:
            return r
    from .core.messages import msg

    raise KeyError(msg(f"알 수 없는 규칙 '{name}' (가능: {[r.name for r in RULES]})",
                       f"unknown rule '{name}' (choose from {[r.name for r in RULES]})"))


def before_after(original, refined):
    """A two-column DataFrame (원문 / 정제) of one record's turns, for reading side by side."""
    import pandas as pd

    def lines(rec):
        refs = set(_refs(rec))
        return [f"{'★' if u.utterance_id in refs else ' '}[{u.speaker}] {u.utterance}" for u in rec.conversation]

    a, b = lines(original), lines(refined)
    n = max(len(a), len(b))
    return pd.DataFrame({"원문 (before)": a + [""] * (n - len(a)), "정제 (after)": b + [""] * (n - len(b))})


# ----------------------------------------------------------------------------- duplicates


def _features(text: str, width: int = 3) -> list[str]:
    s = re.sub(r"\s+", "", text.lower())
    return [s[i : i + width] for i in range(max(len(s) - width + 1, 1))]


def near_duplicates(texts: dict[str, str], max_distance: int = 6, width: int = 3) -> list[list[str]]:
    """Clusters of ids whose texts are near-duplicates (64-bit simhash over character n-grams).

    Two texts fall in one cluster when their fingerprints differ in at most ``max_distance``
    bits (union over pairs). Singletons are not returned.

    >>> near_duplicates({"a": "오늘 저녁에 같이 치킨 먹을래? 나 배고파", "b": "오늘 저녁에 같이 치킨 먹을래? 나 배고파!",
    ...                  "c": "다음 주 시험 범위가 어디까지였지?"})
    [['a', 'b']]
    """
    from simhash import Simhash, SimhashIndex

    hashes = {k: Simhash(_features(t, width)) for k, t in texts.items()}
    index = SimhashIndex(list(hashes.items()), k=max_distance)
    parent = {k: k for k in hashes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for key, h in hashes.items():
        for other in index.get_near_dups(h):
            if other != key and hashes[other].distance(h) <= max_distance:
                parent[find(other)] = find(key)
    groups: dict[str, list[str]] = {}
    for key in texts:
        groups.setdefault(find(key), []).append(key)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def conversation_text(record) -> str:
    """All utterances of a record joined by newlines (for duplicate search and counting)."""
    return "\n".join(u.utterance for u in record.conversation)


# ----------------------------------------------------------------------------- files


def _fingerprint(path: Path) -> dict:
    import hashlib

    return {"source": str(Path(path).resolve()), "size": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def refined_file(task: str, split: str, *, rebuild: bool = False, verbose: bool = True) -> Path:
    """The refined file the training lessons read (``outputs/refined/<task>/<split>.json``).

    Built from :func:`helpers.data.data_file` with all nine rules when missing (so every
    lesson also runs on its own in a fresh runtime), when ``rebuild``, or when its source
    changed: a sidecar ``<split>.json.source.json`` records the source's path, size and
    SHA-256, so adding the real data after a run on the samples rebuilds the file.
    """
    import json

    from .core.io import write_text
    from .core.messages import msg
    from .core.paths import outputs_dir
    from .data import data_file, load, write_records

    source = data_file(task, split, verbose=verbose)
    path = outputs_dir("refined", task) / f"{split}.json"
    stamp = path.with_name(path.name + ".source.json")
    want = _fingerprint(source)
    try:
        have = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        have = None
    if rebuild or not path.is_file() or have != want:
        if verbose and path.is_file() and have != want and not rebuild:
            print(msg(f"[{task}/{split}] 원본이 바뀌어 정제 파일을 다시 만듭니다", f"[{task}/{split}] the source changed: rebuilding"))
        res = refine(load(task, source))
        write_records(task, res.records, path, inputs=[source])
        write_text(json.dumps(want, ensure_ascii=False, indent=2) + "\n", stamp)
        if verbose:
            print(msg(f"[{task}/{split}] 정제된 레코드 {len(res.records)}개 -> {path}",
                      f"[{task}/{split}] refined {len(res.records)} records -> {path}"))
    return path
