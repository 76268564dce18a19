"""Korean figures: the NanumGothic font that ``koreanize-matplotlib`` ships (offline), a titled
figure, and saving under ``outputs/figures``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["korean_font_path", "use_korean_font", "new_figure", "save_figure"]


def korean_font_path() -> Path:
    """The NanumGothic TTF inside ``koreanize-matplotlib``."""
    import importlib.util

    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or spec.origin is None:
        raise ImportError("koreanize-matplotlib is not installed (pip install -e .[notebooks])")
    return Path(spec.origin).parent / "fonts" / "NanumGothic.ttf"


def use_korean_font() -> str:
    """Make matplotlib draw Hangul with NanumGothic; returns the font family name.

    The font file is registered directly (koreanize-matplotlib's import does the same, but
    imports ``distutils``, which Python 3.12 no longer has).
    """
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    path = korean_font_path()
    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(path)).get_name()
    plt.rcParams["font.family"] = name
    plt.rcParams["axes.unicode_minus"] = False
    return name


def new_figure(title: str, size=(7, 4)):
    """``(fig, ax)`` with a Korean-capable font and ``title``."""
    import matplotlib.pyplot as plt

    use_korean_font()
    fig, ax = plt.subplots(figsize=size)
    ax.set_title(title)
    return fig, ax


def save_figure(fig, name: str, folder: str | Path | None = None) -> Path:
    """Save ``fig`` as ``<name>.png`` under ``outputs/figures`` (or ``folder``)."""
    from .paths import outputs_dir

    path = Path(folder) if folder else outputs_dir("figures")
    path.mkdir(parents=True, exist_ok=True)
    out = path / f"{name}.png"
    fig.savefig(out, dpi=110, bbox_inches="tight")
    return out
