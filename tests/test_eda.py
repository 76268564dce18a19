import matplotlib
import pytest

from helpers import eda
from helpers.data import load_cci, load_dcs, load_sc, sample_file


def test_analyze_kiwi_splits_particles_and_endings():
    assert eda.analyze("밥을 먹었다") == [("밥", "NNG"), ("을", "JKO"), ("먹", "VV"), ("었", "EP"), ("다", "EF")]


def test_nouns_from_both_backends():
    text = "주말에 부산에서 돼지국밥을 먹었다"
    assert eda.nouns(text, "kiwi") == ["주말", "부산", "돼지", "국밥"]
    assert {"주말", "부산"} <= set(eda.nouns(text, "okt"))


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend"):
        eda.analyze("안녕", "mecab-java")


def test_compare_analyzers_reports_both():
    table = eda.compare_analyzers(["오늘 날씨가 좋네요", "내일은 비가 온대요"])
    assert list(table.index) == ["kiwi", "okt"]
    assert (table["morphemes"] > 4).all() and (table["texts_per_s"] > 0).all()


def test_korean_font_is_shipped_and_used():
    assert eda.korean_font_path().is_file()
    assert eda.use_korean_font() == "NanumGothic"


def test_plots_draw_the_counts(outputs):
    records = load_cci(sample_file("cci", "train"))
    fig = eda.plot_category_distribution(records)
    heights = {p.get_x(): p.get_height() for p in fig.axes[0].patches}
    assert sorted(heights.values(), reverse=True)[0] >= 1 and sum(heights.values()) == len(records)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["원인", "후행사건", "전제", "동기", "반응"]
    fig = eda.plot_answer_positions(records)
    assert sum(p.get_height() for p in fig.axes[0].patches) == len(records)
    path = eda.save_figure(eda.plot_turn_counts(records), "turns")
    assert path == outputs / "figures" / "turns.png" and path.stat().st_size > 5000
    matplotlib.pyplot.close("all")


def test_total_length_table_matches_records():
    records = load_cci(sample_file("cci", "dev"))
    table = eda.total_length_table(records)
    assert table.loc[0, "total_chars"] == sum(len(u.utterance) for u in records[0].conversation)
    assert list(table.columns) == ["id", "turns", "total_chars"]


def test_wordcloud_and_length_plots_render(outputs):
    texts = [" ".join(u.utterance for u in r.conversation) for r in load_cci(sample_file("cci", "dev"))]
    assert eda.save_figure(eda.plot_wordcloud(texts), "cloud").stat().st_size > 20000
    fig = eda.plot_length_distributions(load_dcs(sample_file("dcs", "dev")), "dcs")
    assert len(fig.axes) == 2
    fig = eda.plot_length_distributions(load_sc(sample_file("sc", "dev")), "sc")
    assert sum(p.get_height() for p in fig.axes[1].patches) == 10
    matplotlib.pyplot.close("all")


def test_without_java_okt_is_named_as_the_problem_and_kiwi_still_runs(monkeypatch, capsys):
    import shutil

    from helpers.core.messages import KitError

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert not eda.java_available() and eda.available_backends() == ("kiwi",)
    with pytest.raises(KitError, match="Okt needs Java.*backend=\"kiwi\""):
        eda.analyze("안녕하세요", "okt")
    table = eda.compare_analyzers(["오늘 날씨가 좋네요"])
    assert list(table.index) == ["kiwi"] and "no Java here" in capsys.readouterr().out


def test_histograms_count_whole_records_and_lengths_can_be_tokens():
    class Chars:  # a stand-in tokenizer: one token per two characters
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": list(range((len(text) + 1) // 2))}

    records = load_dcs(sample_file("dcs", "train"))
    chars = eda.plot_length_distributions(records, "dcs")
    tokens = eda.plot_length_distributions(records, "dcs", tokenizer=Chars())
    assert chars.axes[0].get_xlabel().startswith("글자") and tokens.axes[0].get_xlabel().startswith("토큰")
    for fig in (chars, tokens, eda.plot_turn_counts(load_cci(sample_file("cci", "train")))):
        for ax in fig.axes:
            assert ax.get_ylabel() == "건수 (count)"
            assert all(float(t).is_integer() for t in ax.get_yticks()), ax.get_yticks()
