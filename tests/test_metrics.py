import matplotlib

from helpers import metrics
from helpers.data import load_cci, sample_file


def test_accuracy_by_hand():
    gold = {"a": "inference_1", "b": "inference_2", "c": "inference_3", "d": "inference_1"}
    assert metrics.accuracy({"a": "inference_1", "b": "inference_2", "c": "inference_1"}, gold) == 50.0
    assert metrics.accuracy({}, {}) == 0.0


def test_accuracy_by_category_and_confusion():
    records = load_cci(sample_file("cci", "dev"))
    preds = {r.id: r.output for r in records}
    wrong = next(r for r in records if r.category == "전제")
    preds[wrong.id] = "inference_1" if wrong.output != "inference_1" else "inference_2"
    table = metrics.accuracy_by_category(preds, records)
    n = table.loc["전제", "questions"]
    assert table.loc["전제", "accuracy"] == round(100 * (n - 1) / n, 2)
    assert table.loc["원인", "accuracy"] == 100.0
    assert table.loc["전체 (all)", "questions"] == len(records)
    gold = {r.id: r.output for r in records}
    conf = metrics.confusion(preds, gold)
    assert conf.values.sum() == len(records) and conf.values.trace() == len(records) - 1
    fig = metrics.plot_confusion(preds, gold)
    assert len(fig.axes[0].texts) == 9
    matplotlib.pyplot.close("all")
