"""Text side (paper section 3): class-name files, LLM texts, template embeddings, mixing.

A class-name file has one line per class; a line may hold several names
separated by ``", "``, each of which is a *query*. Every query (and every
auxiliary LLM text) is embedded through the 80 OpenAI ImageNet templates and
averaged. The auxiliary text of a class is then mixed into each of its
queries with weight ``beta`` (``def_coefficient``); background queries keep
their own embedding.
"""
from __future__ import annotations

import functools
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn
from tqdm import tqdm

from .text_encoder import DiskCache, encode_prompts, end_positions, sorted_batches
from .weights import tokenizer_name

TEMPLATES = open_clip.OPENAI_IMAGENET_TEMPLATES  # the paper's 80 prompts, in order
AUX_SEPARATOR = ">="


class TextFileError(ValueError):
    """A class-name or auxiliary-text file is missing or malformed (one-line message)."""


def _read_lines(path: str | Path, what: str, option: str) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise TextFileError(f"{what} file {path} does not exist; set {option} to an existing file")
    lines = path.read_text(encoding="utf-8-sig").splitlines()  # a byte-order mark is not part of the first name
    while lines and not lines[-1].strip():  # blank lines at the end of a file (an extra newline) mean nothing
        lines.pop()
    if not lines:
        raise TextFileError(f"{what} file {path} is empty; it needs one line per class")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise TextFileError(f"{what} file {path}, line {number} is blank; remove it")
    return lines


NAME_SEPARATOR = ", "  # between the names of one class line (ClearCLIP's files split on a bare ",")


def parse_class_line(line: str, separator: str = NAME_SEPARATOR) -> list[str]:
    """The names of one class line, used as read (no stripping: the tokenizer collapses whitespace)."""
    return line.split(separator)


def read_class_names(path: str | Path, separator: str = NAME_SEPARATOR) -> list[list[str]]:
    """The names of every class, from a class-name file (``name_path``)."""
    return [parse_class_line(line, separator) for line in _read_lines(path, "class-name", "name_path")]


def flatten_queries(classes: list[list[str]]) -> tuple[list[str], list[int]]:
    """Every name is a query; ``query_idx[i]`` is the class of query ``i``."""
    queries = [name for names in classes for name in names]
    query_idx = [cls for cls, names in enumerate(classes) for _ in names]
    return queries, query_idx


def read_auxiliary_texts(path: str | Path) -> list[tuple[str, str]]:
    """``(name, text)`` of each ``name >=text`` line; the text is what gets embedded."""
    entries = []
    for number, line in enumerate(_read_lines(path, "auxiliary-text", "auxiliary_text_path"), start=1):
        if AUX_SEPARATOR not in line:
            raise TextFileError(
                f"auxiliary-text file {path}, line {number} has no '{AUX_SEPARATOR}'; write it as 'name >=text'")
        name, text = line.split(AUX_SEPARATOR, 1)
        entries.append((name.strip(), text))
    return entries


def load_texts(name_path: str | Path, auxiliary_text_path: str | Path | None = None, background: bool = False,
               separator: str = NAME_SEPARATOR) -> tuple[list[list[str]], list[str] | None]:
    """Read and cross-check a class-name file and its auxiliary-text file.

    The auxiliary file needs one line per class (background excluded), in
    class order, each naming the first name of its class (compared ignoring
    case, spaces and punctuation), so a file meant for other classes or
    shifted by one line fails here rather than silently mixing wrong texts.
    Returns the class names and the auxiliary texts (or None).
    """
    classes = read_class_names(name_path, separator)
    if auxiliary_text_path is None:
        return classes, None
    entries = read_auxiliary_texts(auxiliary_text_path)
    return classes, check_auxiliary_names(entries, classes, background, f"auxiliary-text file {auxiliary_text_path}",
                                          f"{name_path}")


def check_auxiliary_names(entries: list[tuple[str, str]], classes: list[list[str]], background: bool,
                          texts_source: str, classes_source: str, unit: str = "line") -> list[str]:
    """The texts of ``entries`` once they line up with ``classes``; else a one-line :class:`TextFileError`.

    One entry per class (background excluded), in class order, each naming the
    first name of its class. ``texts_source``/``classes_source`` name the file
    or option each came from (``auxiliary-text file F``, ``--texts-file F``); ``unit`` is how a class is counted there
    (``line`` of a file, ``class`` of an option).
    """
    offset = 1 if background else 0
    expected = len(classes) - offset
    if len(entries) != expected:
        raise TextFileError(
            f"{texts_source} has {len(entries)} lines but {classes_source} has {expected} "
            f"{'non-background ' if background else ''}classes; write one line per class, in class order")
    for number, (name, _) in enumerate(entries, start=1):
        wanted = classes[number - 1 + offset][0]
        if _name_key(name) != _name_key(wanted):
            raise TextFileError(
                f"{texts_source}, line {number} is for '{name}' but the matching "
                f"class, {unit} {number + offset} of {classes_source}"
                f"{f' ({unit} 1 is background)' if background else ''}, starts with '{wanted}'; keep one line per "
                f"class, in class order, this one beginning '{wanted} >=' (each line starts with the first name "
                "of its class)")
    return [text for _, text in entries]


def _name_key(name: str) -> str:
    """Case, spaces and punctuation-insensitive form of a name, so 'Potted-Plant' lines up with 'potted plant'."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


@functools.lru_cache(maxsize=4)
def _tokenizer(name: str):
    """open_clip's tokenizer for the model ``name`` (its vocabulary and context length)."""
    return open_clip.get_tokenizer(name)


@torch.no_grad()
def embed_texts(model: nn.Module, texts: list[str], batch_size: int = 1280) -> Tensor:
    """Template-averaged CLIP text embeddings, (len(texts), E), fp32.

    Each text goes through the 80 templates; each prompt embedding is L2
    normalised, the mean over templates is L2 normalised again. A text is
    encoded once per model (kept on the model) and once per machine (kept in
    the disk cache of :mod:`itaclip.text_encoder`); prompts run through the
    text tower only as far as they reach.
    """
    memory: dict[str, Tensor] = model.__dict__.setdefault("_itaclip_text_cache", {})
    device = next(model.parameters()).device
    name = tokenizer_name(model)
    disk = DiskCache.for_model(model, name, TEMPLATES)
    missing = [t for t in dict.fromkeys(texts) if t not in memory]
    from_disk = 0
    if disk is not None:
        for text in missing:
            cached = disk.get(text)
            if cached is not None:
                memory[text] = cached.to(device)
                from_disk += 1
        missing = [t for t in missing if t not in memory]
    if missing:
        memory.update(zip(missing, _encode(model, name, missing, batch_size, device)))
        if disk is not None:
            for text in missing:
                disk.put(text, memory[text])
    if len(missing) + from_disk > FEW_TEXTS:
        print_log(f"text embeddings: {from_disk} of {len(missing) + from_disk} texts from the cache"
                  f"{'' if disk is not None else ' (the disk cache is off)'}", logger="current")
    return torch.stack([memory[t].to(device) for t in texts])


FEW_TEXTS = 8  # more new texts than this show a progress bar and a line on where they came from


def _encode(model: nn.Module, name: str, texts: list[str], batch_size: int, device) -> list[Tensor]:
    """Embeddings of ``texts`` (none cached): all prompts in length-sorted batches, with a progress bar."""
    prompts = [template(text) for text in texts for template in TEMPLATES]
    tokens = _tokenizer(name)(prompts)
    ends = end_positions(model, tokens)
    lengths = (ends + 1).tolist() if ends is not None else [tokens.shape[1]] * len(prompts)
    out = None
    with tqdm(total=len(texts), unit="text", desc="embedding class texts", leave=False,
              disable=True if len(texts) <= FEW_TEXTS else None) as bar:
        done = 0
        for batch in sorted_batches(lengths, batch_size):
            index = torch.as_tensor(batch)
            features = F.normalize(encode_prompts(model, tokens[index].to(device)).float(), dim=-1)
            if out is None:
                out = features.new_empty(len(prompts), features.shape[-1])
            out[index.to(device)] = features
            done += len(batch)
            bar.update(done // len(TEMPLATES) - bar.n)
    per_prompt = out.view(len(texts), len(TEMPLATES), -1)
    return list(F.normalize(per_prompt.mean(1), dim=-1))


def mix_auxiliary(query_features: Tensor, query_idx: list[int], aux_features: Tensor,
                  beta: float, background: bool) -> Tensor:
    """``(1-beta)*own + beta*aux[class]`` per query; not normalised again.

    With a background class, queries of class 0 keep their own embedding and
    class ``c`` takes auxiliary line ``c-1`` (the file has no background line).
    """
    idx = torch.as_tensor(query_idx, device=query_features.device)
    offset = 1 if background else 0
    keep = idx < offset
    aux = aux_features[(idx - offset).clamp(min=0)]
    mixed = (1 - beta) * query_features + beta * aux
    return torch.where(keep[:, None], query_features, mixed)


def query_embeddings(model: nn.Module, classes: list[list[str]], auxiliary_texts: list[str] | None = None,
                     beta: float = 0.2, background: bool = False) -> tuple[Tensor, list[int]]:
    """Everything of section 3: the (mixed) embedding of every query, and ``query_idx``.

    ``classes`` holds the names of each class; ``auxiliary_texts`` one LLM text
    per class (background excluded), or None for no mixing.
    """
    queries, query_idx = flatten_queries(classes)
    if auxiliary_texts is None:
        return embed_texts(model, queries), query_idx
    expected = len(classes) - (1 if background else 0)
    if len(auxiliary_texts) != expected:
        raise ValueError(f"{len(auxiliary_texts)} auxiliary texts for {expected} classes; give one per class"
                         f"{' (background excluded)' if background else ''}")
    features = embed_texts(model, queries + auxiliary_texts)
    return mix_auxiliary(features[:len(queries)], query_idx, features[len(queries):], beta, background), query_idx
