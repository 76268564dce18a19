"""Colab editions of the lessons, generated from ``notebooks/`` (never edited by hand).

Each edition is the lesson with three cells in front: an Open-in-Colab badge, an install
cell (clones the kit and installs it; does nothing outside Colab) and an optional Google
Drive cell for data and checkpoints. ::

    python -m helpers.colab build    # write colab/*.ipynb
    python -m helpers.colab check    # exit 1 if an edition is missing or out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["REPO_URL", "BRANCH", "repo_url", "needs_gpu", "colab_edition", "build", "stale"]


def repo_url() -> str:
    """Where Colab clones the kit from: ``[project.urls] Repository`` of ``pyproject.toml``,
    the one setting a fork changes (then ``make colab`` rebuilds the editions)."""
    here = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if here.is_file():  # a checkout (editable install): the file itself
        import tomllib

        with here.open("rb") as f:
            return tomllib.load(f)["project"]["urls"]["Repository"]
    from importlib.metadata import metadata  # an installed copy: the same field, from its metadata

    urls = dict(u.split(", ", 1) for u in metadata("k-nlp-kit").get_all("Project-URL") or [])
    return urls["Repository"]


#: The repository the editions clone (from ``pyproject.toml``) and its branch.
REPO_URL = repo_url()
BRANCH = "main"

#: Lessons that train or run a language model (the ``llm`` extra; a GPU runtime in Colab).
_LLM_LESSONS = ("04", "05", "06", "07", "08")
#: Lessons that need a GPU runtime in full mode: the LLM lessons and the BERT track (03a
#: pretrains a small BERT, 03b fine-tunes it). 00-02 and 99 run on Colab's CPU runtime.
_GPU_LESSONS = ("03", *_LLM_LESSONS)
#: Extras beyond the LLM track: lesson 08 serves its model (the 2026 flow).
_MORE_EXTRAS = {"08": ",serve"}


def needs_gpu(name: str) -> bool:
    """Whether the lesson ``name`` asks Colab for a GPU runtime.

    >>> needs_gpu("00_setup.ipynb"), needs_gpu("03b_korquad_finetuning.ipynb"), needs_gpu("99_glossary.ipynb")
    (False, True, False)
    """
    return name[:2] in _GPU_LESSONS


def _extras(name: str) -> str:
    base = "notebooks,llm" if name[:2] in _LLM_LESSONS else "notebooks"
    return base + _MORE_EXTRAS.get(name[:2], "")


def _cell(cell_id: str, kind: str, source: str) -> dict:
    cell = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _badge(name: str) -> dict:
    url = f"https://colab.research.google.com/github/{REPO_URL.split('github.com/')[1]}/blob/{BRANCH}/colab/{name}"
    return _cell(
        "colab-badge",
        "markdown",
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})\n\n"
        "**Colab 판** — `notebooks/`에서 자동 생성된 사본입니다 (직접 고치지 마세요; "
        "`python -m helpers.colab build`). " + _runtime_note(name),
    )


def _runtime_note(name: str) -> str:
    if needs_gpu(name):
        return ("**런타임**: 이 강의는 GPU 런타임(T4 이상)으로 열립니다. GPU가 있으면 전체 모드로, "
                "런타임 > 런타임 유형 변경에서 CPU를 고르면 작은 모델로 같은 코드를 실행하는 스모크 모드로 실행됩니다.")
    return ("**런타임**: 이 강의는 GPU가 필요 없어 CPU 런타임으로 열립니다(무료 GPU 사용 시간을 아끼세요). "
            "실제 데이터를 `data/raw/`(또는 Drive)에 두면 그것을, 없으면 샘플을 씁니다.")


def _install(name: str) -> dict:
    extras = _extras(name)
    gpu_extra = (
        "\n    if subprocess.run([\"nvidia-smi\"], capture_output=True).returncode == 0:\n"
        "        # 빠른 GPU 엔진 unsloth (선택): 설치에 실패해도 transformers 경로로 그대로 동작합니다.\n"
        "        fast = subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", f\"{KIT_DIR}[gpu]\"],\n"
        "                              capture_output=True, text=True)\n"
        "        if fast.returncode != 0:\n"
        "            os.environ[\"KIT_ENGINE\"] = \"hf\"\n"
        "            print(\"unsloth 설치에 실패해 transformers 엔진(KIT_ENGINE=hf)으로 진행합니다. 느리지만 결과는 같습니다.\")\n"
        "            print(\"pip의 마지막 메시지:\", (fast.stderr or fast.stdout).strip().splitlines()[-3:])"
        if extras.endswith("llm")
        else ""
    )
    return _cell(
        "colab-install",
        "code",
        "# 설치 (Colab에서만 실행됩니다; 로컬에서는 아무 일도 하지 않습니다)\n"
        "import os, subprocess, sys\n"
        f"KIT_REPO = \"{REPO_URL}\"\n"
        "if \"google.colab\" in sys.modules:\n"
        "    KIT_DIR = \"/content/k-nlp-kit\"\n"
        "    if not os.path.isdir(KIT_DIR):\n"
        f"        subprocess.run([\"git\", \"clone\", \"--depth\", \"1\", \"-b\", \"{BRANCH}\", KIT_REPO, KIT_DIR], check=True)\n"
        f"    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"-e\", f\"{{KIT_DIR}}[{extras}]\"], check=True)"
        f"{gpu_extra}\n"
        "    sys.path.insert(0, KIT_DIR)  # the editable install is seen without a restart\n"
        "    os.chdir(f\"{KIT_DIR}/notebooks\")",
    )


def _drive() -> dict:
    return _cell(
        "colab-drive",
        "code",
        "# (선택) Google Drive: 실제 데이터와 체크포인트를 런타임이 끊겨도 남는 곳에 둡니다.\n"
        "# 데이터 위치: MyDrive/k-nlp-kit/data/<과제>/ (data/README.md 참고)\n"
        "USE_DRIVE = False\n"
        "if USE_DRIVE and \"google.colab\" in sys.modules:\n"
        "    from google.colab import drive\n"
        "    drive.mount(\"/content/drive\")\n"
        "    os.environ[\"KIT_DATA_DIR\"] = \"/content/drive/MyDrive/k-nlp-kit/data\"\n"
        "    os.environ[\"KIT_OUTPUTS\"] = \"/content/drive/MyDrive/k-nlp-kit/outputs\"\n"
        "# 허브 토큰은 Colab 보안 비밀(열쇠 아이콘)의 HF_TOKEN에서 읽습니다; 노트북에 적지 마세요.\n"
        "if \"google.colab\" in sys.modules and not os.environ.get(\"HF_TOKEN\"):\n"
        "    try:\n"
        "        from google.colab import userdata\n"
        "        os.environ[\"HF_TOKEN\"] = userdata.get(\"HF_TOKEN\")\n"
        "    except Exception:\n"
        "        pass  # 토큰이 없어도 공개 모델과 스모크 모드는 동작합니다",
    )


def colab_edition(notebook: dict, name: str) -> dict:
    """The Colab edition of a lesson (a notebook as a JSON dict): badge, install, drive, lesson."""
    cells = [_badge(name), _install(name), _drive()] + notebook["cells"]
    meta = dict(notebook.get("metadata", {}))
    if needs_gpu(name):
        meta["accelerator"] = "GPU"
        meta["colab"] = {"provenance": [], "gpuType": "T4"}
    else:
        meta["colab"] = {"provenance": []}
    return {**notebook, "metadata": meta, "cells": cells}


def _dumps(nb: dict) -> str:
    return json.dumps(nb, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def _pairs(src: Path, dst: Path):
    for path in sorted(src.glob("*.ipynb")):
        yield path, dst / path.name


def _render(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return _dumps(colab_edition(nb, path.name))


def build(src: str | Path = "notebooks", dst: str | Path = "colab") -> list[Path]:
    """Write the Colab edition of every lesson; removes editions whose lesson is gone."""
    src, dst = _resolve(src), _resolve(dst)
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for lesson, edition in _pairs(src, dst):
        edition.write_text(_render(lesson), encoding="utf-8")
        written.append(edition)
    for orphan in set(dst.glob("*.ipynb")) - set(written):
        orphan.unlink()
    return written


def stale(src: str | Path = "notebooks", dst: str | Path = "colab") -> list[str]:
    """Names of editions that are missing, out of date, or have no lesson (empty: in sync)."""
    src, dst = _resolve(src), _resolve(dst)
    bad = []
    for lesson, edition in _pairs(src, dst):
        if not edition.is_file():
            bad.append(f"{edition.name}: missing")
        elif edition.read_text(encoding="utf-8") != _render(lesson):
            bad.append(f"{edition.name}: out of date")
    lessons = {p.name for p in src.glob("*.ipynb")}
    bad += [f"{p.name}: no such lesson" for p in sorted(dst.glob("*.ipynb")) if p.name not in lessons]
    return bad


def _resolve(p: str | Path) -> Path:
    from .runtime import repo_root

    p = Path(p)
    return p if p.is_absolute() else repo_root() / p


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.colab")
    parser.add_argument("command", choices=["build", "check"])
    args = parser.parse_args(argv)
    if args.command == "build":
        for path in build():
            print(f"wrote {path}")
        return 0
    problems = stale()
    for p in problems:
        print(p)
    if problems:
        from .core.messages import msg

        print(msg("Colab 판이 노트북과 다릅니다: `python -m helpers.colab build`를 실행하세요",
                  "Colab editions are out of sync: run `python -m helpers.colab build`"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
