"""Korean figures: the NanumGothic font that ``koreanize-matplotlib`` ships (offline), a titled
figure, and saving under ``outputs/figures``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["korean_font_path", "use_korean_font", "new_figure", "save_figure", "SavedFigure"]


class SavedFigure(type(Path())):
    """The path of a saved figure. :func:`save_figure` has already shown the PNG in the
    notebook, so the path itself displays as nothing there (no ``PosixPath('…')`` line)."""

    def _repr_png_(self) -> bytes:
        return self.read_bytes()

    def _ipython_display_(self) -> None:
        return None


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


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


def save_figure(fig, name: str, folder: str | Path | None = None) -> "SavedFigure":
    """Save ``fig`` as ``<name>.png`` under ``outputs/figures`` (or ``folder``) and, in a
    notebook, show that PNG inline (also under a non-interactive backend such as Agg).

    >>> import matplotlib; matplotlib.use("Agg"); import tempfile
    >>> fig, ax = new_figure("제목")
    >>> p = save_figure(fig, "t", tempfile.mkdtemp())
    >>> p.name, p._repr_png_()[1:4] == b"PNG"
    ('t.png', True)
    """
    from .paths import outputs_dir

    path = Path(folder) if folder else outputs_dir("figures")
    path.mkdir(parents=True, exist_ok=True)
    out = path / f"{name}.png"
    fig.savefig(out, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    if _in_notebook():  # the PNG on disk is exactly what the notebook shows, whatever the backend
        from IPython.display import Image, display

        display(Image(filename=str(out)))
    return SavedFigure(out)
