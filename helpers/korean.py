"""Small Korean text facts: final consonants and particles chosen by them.

    >>> with_particle("원인", "으로/로"), with_particle("전제", "으로/로"), with_particle("서울", "으로/로")
    ('원인으로', '전제로', '서울로')
"""

from __future__ import annotations

__all__ = ["final_consonant", "has_final_consonant", "particle", "with_particle"]

_FINALS = [
    "", "ㄱ", "ㄲ", "ㄳ", "ㄴ", "ㄵ", "ㄶ", "ㄷ", "ㄹ", "ㄺ", "ㄻ", "ㄼ", "ㄽ", "ㄾ", "ㄿ", "ㅀ",
    "ㅁ", "ㅂ", "ㅄ", "ㅅ", "ㅆ", "ㅇ", "ㅈ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ",
]
# Final consonant of each digit as read in Sino-Korean (일, 이, 삼, 사, 오, 육, 칠, 팔, 구, 영).
_DIGIT_FINALS = {"0": "ㅇ", "1": "ㄹ", "2": "", "3": "ㅁ", "4": "", "5": "", "6": "ㄱ", "7": "ㄹ", "8": "ㄹ", "9": ""}
# Latin letters as commonly read aloud: those whose English name ends in a consonant sound
# that Korean keeps as a final (엘, 엠, 엔, 알).
_LATIN_FINALS = {"l": "ㄹ", "m": "ㅁ", "n": "ㄴ", "r": "ㄹ"}


def final_consonant(word: str) -> str:
    """The final consonant (받침) of the last sounding character of ``word`` ('' if none).

    Trailing punctuation and spaces are skipped; digits are read in Sino-Korean.

    >>> final_consonant("원인"), final_consonant("동기"), final_consonant("2021"), final_consonant("반응)")
    ('ㄴ', '', 'ㄹ', 'ㅇ')
    """
    for ch in reversed(word):
        if "가" <= ch <= "힣":
            return _FINALS[(ord(ch) - 0xAC00) % 28]
        if ch.isdigit() and ch in _DIGIT_FINALS:
            return _DIGIT_FINALS[ch]
        if ch.isascii() and ch.isalpha():
            return _LATIN_FINALS.get(ch.lower(), "")
    return ""


def has_final_consonant(word: str) -> bool:
    """True when ``word`` ends in a final consonant (받침)."""
    return final_consonant(word) != ""


def particle(word: str, pair: str) -> str:
    """The form of a particle pair that fits ``word``: ``"은/는"``, ``"이/가"``, ``"을/를"``,
    ``"과/와"``, ``"아/야"``, ``"이에요/예요"`` (first form after a final consonant), or ``"으로/로"``
    (로 also after ㄹ).

    >>> particle("후행사건", "은/는"), particle("반응", "을/를"), particle("서울", "으로/로")
    ('은', '을', '로')
    """
    with_final, without = pair.split("/")
    fin = final_consonant(word)
    if pair == "으로/로":
        return without if fin in ("", "ㄹ") else with_final
    return with_final if fin else without


def with_particle(word: str, pair: str) -> str:
    """``word`` followed by the right form of ``pair``.

    >>> with_particle("동기", "이/가")
    '동기가'
    """
    return word + particle(word, pair)
