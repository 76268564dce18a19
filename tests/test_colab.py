import json
import shutil

from helpers import colab
from helpers.runtime import repo_root


def test_every_lesson_has_an_up_to_date_colab_edition():
    assert colab.stale() == [], "run `make colab` (python -m helpers.colab build)"
    lessons = sorted(p.name for p in (repo_root() / "notebooks").glob("*.ipynb"))
    assert lessons and lessons == sorted(p.name for p in (repo_root() / "colab").glob("*.ipynb"))


def test_edition_has_badge_install_and_drive_then_the_lesson():
    lesson = json.loads((repo_root() / "notebooks" / "00_setup.ipynb").read_text(encoding="utf-8"))
    edition = json.loads((repo_root() / "colab" / "00_setup.ipynb").read_text(encoding="utf-8"))
    first = edition["cells"][:3]
    assert "colab-badge.svg" in first[0]["source"] and "colab/00_setup.ipynb" in first[0]["source"]
    assert "pip" in first[1]["source"] and colab.REPO_URL in first[1]["source"]
    assert "drive.mount" in first[2]["source"]
    assert edition["cells"][3:] == lesson["cells"]


def test_stale_detects_edits_missing_and_orphans(tmp_path):
    src, dst = tmp_path / "notebooks", tmp_path / "colab"
    shutil.copytree(repo_root() / "notebooks", src)
    colab.build(src, dst)
    assert colab.stale(src, dst) == []
    nb = json.loads((src / "00_setup.ipynb").read_text(encoding="utf-8"))
    nb["cells"][0]["source"] += "\n추가 문장"
    (src / "00_setup.ipynb").write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    (dst / "01_eda.ipynb").unlink()
    (dst / "99_old.ipynb").write_text("{}", encoding="utf-8")
    assert colab.stale(src, dst) == ["00_setup.ipynb: out of date", "01_eda.ipynb: missing", "99_old.ipynb: no such lesson"]


def test_install_cell_does_nothing_outside_colab():
    edition = json.loads((repo_root() / "colab" / "00_setup.ipynb").read_text(encoding="utf-8"))
    scope = {}
    exec(edition["cells"][1]["source"], scope)  # must not clone or pip-install here
    assert "KIT_DIR" not in scope


def test_only_lessons_that_need_a_gpu_ask_colab_for_one():
    def edition(name):
        return json.loads((repo_root() / "colab" / name).read_text(encoding="utf-8"))

    for name in ("00_setup.ipynb", "01_eda.ipynb", "02_refinement.ipynb", "99_glossary_next_steps.ipynb"):
        meta = edition(name)["metadata"]
        assert "accelerator" not in meta and "gpuType" not in meta["colab"], name
        assert "CPU 런타임" in edition(name)["cells"][0]["source"], name
    for name in ("03b_korquad_finetuning.ipynb", "04_llm_finetuning.ipynb", "07_preference_rl.ipynb"):
        meta = edition(name)["metadata"]
        assert meta["accelerator"] == "GPU" and meta["colab"]["gpuType"] == "T4", name


def test_repository_is_one_setting_and_extras_follow_the_lesson():
    import tomllib

    with (repo_root() / "pyproject.toml").open("rb") as f:
        assert colab.REPO_URL == tomllib.load(f)["project"]["urls"]["Repository"]
    install = {n: json.loads((repo_root() / "colab" / n).read_text(encoding="utf-8"))["cells"][1]["source"]
               for n in ("00_setup.ipynb", "07_preference_rl.ipynb", "08_korean_culture_qa.ipynb")}
    assert "[notebooks]" in install["00_setup.ipynb"] and "[gpu]" not in install["00_setup.ipynb"]
    assert "[notebooks,llm]" in install["07_preference_rl.ipynb"]
    assert "[notebooks,llm,serve]" in install["08_korean_culture_qa.ipynb"]
    # a failed unsloth install is said, and the run continues on the transformers engine
    assert "returncode != 0" in install["07_preference_rl.ipynb"] and 'KIT_ENGINE"] = "hf"' in install["07_preference_rl.ipynb"]
