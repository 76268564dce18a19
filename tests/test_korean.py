import pytest

from helpers.korean import final_consonant, particle, with_particle


@pytest.mark.parametrize("word, pair, expected", [
    ("원인", "으로/로", "원인으로"), ("전제", "으로/로", "전제로"), ("동기", "으로/로", "동기로"),
    ("반응", "으로/로", "반응으로"), ("후행사건", "으로/로", "후행사건으로"), ("서울", "으로/로", "서울로"),
    ("원인", "은/는", "원인은"), ("동기", "은/는", "동기는"), ("반응", "을/를", "반응을"),
    ("전제", "이/가", "전제가"), ("SD2000001", "은/는", "SD2000001은"), ("SD2000002", "은/는", "SD2000002는"),
    ("KTX", "은/는", "KTX는"), ("URL", "을/를", "URL을"), ("반응)", "이/가", "반응)이"),
])
def test_particles_follow_the_final_consonant(word, pair, expected):
    assert with_particle(word, pair) == expected


def test_final_consonant_of_digits_and_empty():
    assert [final_consonant(str(d)) for d in range(10)] == ["ㅇ", "ㄹ", "", "ㅁ", "", "", "ㄱ", "ㄹ", "ㄹ", ""]
    assert final_consonant("") == "" and particle("", "이/가") == "가"
