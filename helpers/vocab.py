"""Tokenizers trained on the shipped text: morpheme-aware WordPiece (BERT) and byte-level BPE (tiny LLMs).

Korean words glue particles and endings to stems (밥을, 먹었다), so the BERT track cuts text
into morphemes *before* WordPiece sees it, as the enliple contest model did. The cut is
done by :func:`segment`, outside ``tokenizer.json`` (a Python pre-tokenizer cannot be saved),
and every character keeps its offset in the original text, which extractive QA needs.

    >>> seg = segment("밥을 먹었다")
    >>> seg.text
    '밥 을 먹 었 다'
    >>> seg.to_original(seg.text.index("었"))
    4

A saved kit tokenizer folder holds ``kit_tokenizer.json`` saying that segmentation must run
first; :func:`load_tokenizer` reads it, and a hub tokenizer id simply skips the step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .core.kiwi import kiwi

__all__ = [
    "morphemes",
    "Segmented",
    "segment",
    "shipped_texts",
    "train_wordpiece",
    "train_bpe",
    "load_tokenizer",
    "KitTokenizer",
    "BERT_SPECIAL_TOKENS",
]

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
KIT_FILE = "kit_tokenizer.json"


def morphemes(text: str) -> list[tuple[str, str, int, int]]:
    """kiwipiepy's morphemes of ``text`` as ``(form, tag, start, end)`` in the original text.

    Restored morphemes can overlap their neighbours' spans (see :func:`segment`).

    >>> morphemes("밥을")
    [('밥', 'NNG', 0, 1), ('을', 'JKO', 1, 2)]
    """
    return [(t.form, t.tag, t.start, t.end) for t in kiwi().tokenize(text)]


@dataclass(frozen=True)
class Segmented:
    """Text with spaces inserted at morpheme boundaries, and the way back to the original.

    ``offsets[i]`` is the original index of ``text[i]`` (``-1`` for an inserted space).
    """

    text: str
    offsets: tuple[int, ...]

    def to_original(self, i: int) -> int:
        """Original index of segmented character ``i``."""
        return self.offsets[i]

    def span_to_original(self, start: int, end: int) -> tuple[int, int]:
        """Original ``(start, end)`` of the segmented span ``[start, end)`` (end exclusive)."""
        return self.offsets[start], self.offsets[end - 1] + 1


def segment(text: str) -> Segmented:
    """Insert a space at every morpheme boundary (kiwipiepy) without changing any character.

    kiwipiepy may restore a morpheme that overlaps its neighbour in the surface text
    (들어가신다 → 들어가/시/ㄴ다 with overlapping spans); cutting at the unique token start
    positions keeps the pieces an exact tiling of the original text.

    >>> segment("들어가신다").text
    '들어가 신다'
    """
    if not text:
        return Segmented("", ())
    cuts = {t.start for t in kiwi().tokenize(text)}
    chars: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        if i in cuts and chars and not chars[-1].isspace() and not ch.isspace():
            chars.append(" ")
            offsets.append(-1)
        chars.append(ch)
        offsets.append(i)
    return Segmented("".join(chars), tuple(offsets))


def shipped_texts() -> Iterator[str]:
    """Korean text that ships with the kit: every sample file's text (each task says what its
    text is) and konlpy's corpora, in a fixed order.

    konlpy ships the Korean constitution (``kolaw``) and ten National Assembly bills
    (``kobill``); together with the samples they are enough to train a smoke-mode vocabulary.
    """
    for task, records in sample_records():
        yield from task.corpus(records)
    try:
        from konlpy.corpus import kobill, kolaw
    except ImportError:  # konlpy is an optional extra (notebooks)
        return
    for corpus in (kolaw, kobill):
        for fileid in corpus.fileids():
            yield from (line for line in corpus.open(fileid).read().splitlines() if line.strip())


def sample_records(splits: Sequence[str] = ("train", "dev", "test")):
    """``(task, records)`` of every shipped sample file of ``splits``, task by task."""
    from . import data, tasks

    for task in tasks.all_tasks():
        for split in splits:
            path = data.sample_file(task.name, split)
            if path.is_file():
                yield task, task.load(path)


class KitTokenizer:
    """A fast tokenizer plus the kit's morpheme segmentation in front of it (when it needs one).

    Call it like a ``transformers`` tokenizer; offsets come back in *original* text
    coordinates. ``.hf`` is the underlying ``PreTrainedTokenizerFast``.
    """

    def __init__(self, hf_tokenizer, segmented: bool):
        self.hf = hf_tokenizer
        self.segmented = segmented

    def prepare(self, text: str) -> Segmented:
        """What the fast tokenizer sees for ``text`` (identity for hub tokenizers)."""
        if self.segmented:
            return segment(text)
        return Segmented(text, tuple(range(len(text))))

    def tokenize_with_offsets(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        """Tokens of ``text`` and each token's ``(start, end)`` in the original text."""
        seg = self.prepare(text)
        enc = self.hf(seg.text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)  # whole texts: no length notice
        tokens = self.hf.convert_ids_to_tokens(enc["input_ids"])
        return tokens, [seg.span_to_original(s, e) for s, e in enc["offset_mapping"]]

    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        self.hf.save_pretrained(path)
        (path / KIT_FILE).write_text(
            json.dumps({"segmentation": "kiwipiepy" if self.segmented else None,
                        "note": "run helpers.vocab.segment() on text before this tokenizer"}, ensure_ascii=False, indent=2),
            encoding="utf-8",
        )
        return path

    def __len__(self) -> int:
        return len(self.hf)


def _wordpiece_parts():
    """A WordPiece tokenizer without a vocabulary: normaliser, pre-tokenizer and decoder."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    def build(vocab: dict | None = None):
        tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]") if vocab else models.WordPiece(unk_token="[UNK]"))
        # BertNormalizer with strip_accents=False: stripping accents would decompose Hangul syllables.
        tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                                    lowercase=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        return tok

    return build


def train_wordpiece(
    texts: Iterable[str] | None = None, vocab_size: int = 8000, min_frequency: int = 2, segmented: bool = True,
) -> KitTokenizer:
    """Train a morpheme-level WordPiece vocabulary (default: on :func:`shipped_texts`).

    The same texts always give the same vocabulary. ``tokenizers``' trainer gives the ``##``
    subword pieces their ids in hash-map order (huggingface/tokenizers#1794), and the merges
    break count ties by id, so two runs could differ; every ``##<character>`` is registered
    up front in sorted order, then the trained vocabulary is rebuilt with only the five BERT
    special tokens marked special.

    >>> tok = train_wordpiece(["밥을 먹었다", "물을 마셨다"] * 5, vocab_size=200)
    >>> tok.tokenize_with_offsets("밥을 먹었다")[1][:2]
    [(0, 1), (1, 2)]
    """
    from tokenizers import processors, trainers
    from transformers import PreTrainedTokenizerFast

    build = _wordpiece_parts()
    texts = list(shipped_texts() if texts is None else texts)
    prepared = [segment(t).text if segmented else t for t in texts]
    normalizer = build().normalizer
    chars = sorted({ch for t in prepared for ch in normalizer.normalize_str(t) if not ch.isspace()})
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                        special_tokens=list(BERT_SPECIAL_TOKENS) + ["##" + c for c in chars])
    draft = build()
    draft.train_from_iterator(prepared, trainer, length=len(prepared))
    tok = build(draft.get_vocab())
    tok.add_special_tokens(list(BERT_SPECIAL_TOKENS))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=512,
    )
    return KitTokenizer(hf, segmented)


def train_bpe(texts: Iterable[str] | None = None, vocab_size: int = 4000, extra_special: Sequence[str] = ()):
    """A byte-level BPE ``PreTrainedTokenizerFast`` for tiny causal LMs (no segmentation).

    Special tokens: ``<s>`` (bos), ``</s>`` (eos), ``<pad>``, plus ``extra_special``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<s>", "</s>", *extra_special]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(shipped_texts() if texts is None else texts), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   additional_special_tokens=list(extra_special) or None)


def load_tokenizer(name_or_path: str | Path, trust_remote_code: bool = False) -> KitTokenizer:
    """A kit tokenizer folder (segmentation on) or any hub tokenizer id / folder (off)."""
    from transformers import AutoTokenizer

    path = Path(name_or_path)
    kit = path / KIT_FILE
    segmented = False
    if kit.is_file():
        segmented = json.loads(kit.read_text(encoding="utf-8")).get("segmentation") == "kiwipiepy"
    hf = AutoTokenizer.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
    return KitTokenizer(hf, segmented)
