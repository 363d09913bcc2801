"""Class texts embedded fast and once: the text tower run only as far as the prompts reach, and a disk cache.

CLIP's text tower is causal and reads its output at the end-of-text token,
so positions after the longest prompt of a batch never influence the result:
:func:`encode_prompts` runs the tower on the tokens up to that position
(positional embedding and causal mask sliced to match), with prompts sorted
by length so that batches are tight. Prompts are 10-25 tokens, not 77.

The embedding of a text depends only on the weights, the tokenizer, the
templates, the precision and the text, so :class:`DiskCache` keeps each one
in the cache folder (``<cache>/text_embeddings``), written atomically, one
file per text, safe when several processes fill it at once.
``ITACLIP_TEXT_CACHE=0`` turns it off; ``ITACLIP_TEXT_CACHE=<folder>`` puts
it elsewhere.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import open_clip
import torch
from open_clip.transformer import text_global_pool
from torch import Tensor, nn

from . import fetch
from .atomic import atomic_write

if TYPE_CHECKING:
    from .weights import ClipModel

CACHE_VARIABLE = "ITACLIP_TEXT_CACHE"
OFF = ("0", "off", "false", "no")


def end_positions(model: nn.Module, tokens: Tensor) -> Tensor | None:
    """Where each prompt's output is read (its end-of-text token), or None when the model reads elsewhere."""
    pool = getattr(model, "text_pool_type", None)
    if pool == "argmax":
        return tokens.argmax(-1)
    if pool == "eos" and getattr(model, "text_eos_id", None) is not None:
        return (tokens == model.text_eos_id).int().argmax(-1)
    return None


@torch.no_grad()
def encode_prompts(model: nn.Module, tokens: Tensor) -> Tensor:
    """``model.encode_text(tokens)``, run only up to the last end-of-text position of the batch.

    Models whose text tower is not open_clip's causal ``CLIP`` text side (or that
    pool elsewhere) run the full context, as they are.
    """
    ends = end_positions(model, tokens) if isinstance(model, open_clip.CLIP) else None
    if ends is None or getattr(model, "attn_mask", None) is None:
        return model.encode_text(tokens)
    length = int(ends.max()) + 1
    tokens = tokens[:, :length]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:length].to(cast)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
    x = text_global_pool(x, tokens, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
    if model.text_projection is None:
        return x
    return model.text_projection(x) if isinstance(model.text_projection, nn.Linear) else x @ model.text_projection


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (shortest first)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


class DiskCache:
    """Template-averaged text embeddings of one model, tokenizer, template list and precision, on disk.

    ``identity`` names all of those; an entry records it and its text, so a
    file that does not match (another model, a hash collision, a truncated
    write from elsewhere), or whose embedding has the wrong shape or a
    non-finite value, is ignored with a one-line warning and rewritten.
    """

    def __init__(self, folder: Path, identity: dict, dim: int | None = None):
        self.identity, self.dim = identity, dim  # dim: an entry's length (None: not checked)
        key = json.dumps(identity, sort_keys=True)
        self.key = hashlib.sha256(key.encode()).hexdigest()
        self.folder = folder / self.key[:24]

    @classmethod
    def for_model(cls, clip: "ClipModel", templates: list) -> "DiskCache | None":
        """The cache of ``clip``'s embeddings through ``templates``, or None when switched off."""
        setting = os.environ.get(CACHE_VARIABLE, "")
        if setting.lower() in OFF:
            return None
        folder = Path(setting) if setting else fetch.cache_dir("text_embeddings")
        identity = dict(weights=fetch.file_sha256(clip.path), kind=clip.kind,
                        tokenizer=clip.tokenizer, context=int(getattr(clip.model, "context_length", 77)),
                        precision=clip.precision,
                        templates=hashlib.sha256("\n".join(t("{}") for t in templates).encode()).hexdigest())
        return cls(folder, identity, getattr(clip.model.visual, "output_dim", None))

    def _path(self, text: str) -> Path:
        return self.folder / f"{hashlib.sha256(text.encode()).hexdigest()}.pt"

    def get(self, text: str) -> Tensor | None:
        path = self._path(text)
        if not path.is_file():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if entry["key"] == self.key and entry["text"] == text:
                embedding = entry["embedding"]
                if not isinstance(embedding, Tensor) or embedding.ndim != 1 or \
                        (self.dim is not None and embedding.numel() != self.dim):
                    warnings.warn(f"text-embedding cache entry {path} has the wrong shape "
                                  f"({tuple(getattr(embedding, 'shape', ()))}); recomputing it", stacklevel=2)
                elif not torch.isfinite(embedding).all():
                    warnings.warn(f"text-embedding cache entry {path} holds non-finite values; recomputing it",
                                  stacklevel=2)
                else:
                    return embedding
                return None
            warnings.warn(f"text-embedding cache entry {path} belongs to another model or text; recomputing it",
                          stacklevel=2)
        except Exception as err:  # a truncated or foreign file: recompute and rewrite
            warnings.warn(f"text-embedding cache entry {path} is unreadable ({fetch.reason(err)}); recomputing it",
                          stacklevel=2)
        return None

    def put(self, text: str, embedding: Tensor) -> None:
        try:
            with atomic_write(self._path(text)) as f:
                torch.save(dict(key=self.key, text=text, embedding=embedding.detach().cpu().clone()), f)
        except OSError as err:  # a read-only cache folder only costs the speed-up
            warnings.warn(f"cannot write the text-embedding cache in {self.folder} ({err.strerror or err})",
                          stacklevel=2)
