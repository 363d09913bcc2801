"""Text side (paper section 3): template embeddings and mixing (the files are read by :mod:`.class_files`).

Every name of a class line is a *query*. Every query (and every
auxiliary LLM text) is embedded through the 80 OpenAI ImageNet templates and
averaged. The auxiliary text of a class is then mixed into each of its
queries with weight ``beta`` (``def_coefficient``); background queries keep
their own embedding.
"""
from __future__ import annotations

import functools

import open_clip
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn
from tqdm import tqdm

from .class_files import flatten_queries
from .text_encoder import DiskCache, encode_prompts, end_positions, sorted_batches
from .weights import ClipModel

TEMPLATES = open_clip.OPENAI_IMAGENET_TEMPLATES  # the paper's 80 prompts, in order


@functools.lru_cache(maxsize=4)
def _tokenizer(name: str):
    """open_clip's tokenizer for the model ``name`` (its vocabulary and context length)."""
    return open_clip.get_tokenizer(name)


@torch.no_grad()
def embed_texts(clip: ClipModel, texts: list[str], batch_size: int = 1280) -> Tensor:
    """Template-averaged CLIP text embeddings, (len(texts), E), fp32.

    Each text goes through the 80 templates; each prompt embedding is L2
    normalised, the mean over templates is L2 normalised again. A text is
    encoded once per process (``clip.text_cache``) and once per machine (the
    disk cache of :mod:`itaclip.text_encoder`); prompts run through the text
    tower only as far as they reach.
    """
    memory: dict[str, Tensor] = clip.text_cache
    device = clip.device
    disk = DiskCache.for_model(clip, TEMPLATES)
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
        memory.update(zip(missing, _encode(clip.model, clip.tokenizer, missing, batch_size, device)))
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


def query_embeddings(clip: ClipModel, classes: list[list[str]], auxiliary_texts: list[str] | None = None,
                     beta: float = 0.2, background: bool = False) -> tuple[Tensor, list[int]]:
    """Everything of section 3: the (mixed) embedding of every query, and ``query_idx``.

    ``classes`` holds the names of each class; ``auxiliary_texts`` one LLM text
    per class (background excluded), or None for no mixing.
    """
    queries, query_idx = flatten_queries(classes)
    if auxiliary_texts is None:
        return embed_texts(clip, queries), query_idx
    expected = len(classes) - (1 if background else 0)
    if len(auxiliary_texts) != expected:
        raise ValueError(f"{len(auxiliary_texts)} auxiliary texts for {expected} classes; give one per class"
                         f"{' (background excluded)' if background else ''}")
    features = embed_texts(clip, queries + auxiliary_texts)
    return mix_auxiliary(features[:len(queries)], query_idx, features[len(queries):], beta, background), query_idx
