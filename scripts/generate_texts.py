#!/usr/bin/env python
"""Write an auxiliary-text file (LLM definitions or synonyms) for a list of classes.

ITACLIP mixes each class embedding with the embedding of a short text an
instruct model wrote about the class (METHOD.md section 7). This script asks
such a model once per class, with the paper's prompts and sampling settings,
and writes one ``name >=text`` line per class (background excluded), the
format ``itaclip.class_files.load_texts`` reads.

A run can be interrupted and restarted with the same arguments: the lines
already written are kept and only the missing classes are asked for. The
output file is replaced atomically after each class, so it is always a valid
prefix of the final file.

Examples::

    python scripts/generate_texts.py --config cfg_voc21 --out my_voc21_definitions.txt
    python scripts/generate_texts.py --classes my_classes.txt --kind synonyms --out my_synonyms.txt
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = "meta-llama/Meta-Llama-3-8B-Instruct"
SEPARATOR = ">="
KINDS = ("definitions", "synonyms")
MAX_DEFINITION_WORDS = 50
ATTEMPTS = 3  # an answer that cleans down to nothing is asked for again, with another seed

SYSTEM_PROMPTS = {
    "definitions": (
        "You are given a word after '>='. Reply with a brief definition of that word, in no more than "
        f"{MAX_DEFINITION_WORDS} words. Reply with the definition only and nothing else. "
        "Examples: house >= a building in which people live, usually one family; "
        "car >= a road vehicle with an engine and four wheels that carries a small number of people."
    ),
    "synonyms": (
        "You are given a word after '>='. Reply with exactly one word that is a synonym of it or, "
        "if it has none, the word closest to it in meaning. Reply with that one word only and nothing else. "
        "Examples: house ≥ home; car ≥ automobile."
    ),
}

_QUOTES = "\"`“”«»„"  # stripped from both ends wherever they stand
_SINGLE_QUOTES = "'‘’"  # only as a wrapping pair: a word may end in an apostrophe
_ARROW = r"(?:>=|≥|=>)"


def user_prompt(name: str) -> str:
    """The user message of section 7: the class name followed by the separator."""
    return f"{name} {SEPARATOR}"


def _strip_quotes(text: str) -> str:
    """Remove quote marks around the text."""
    text = text.strip(_QUOTES + " ")
    if len(text) >= 2 and text[0] in _SINGLE_QUOTES and text[-1] in _SINGLE_QUOTES:
        text = text[1:-1].strip()
    return text


def clean_answer(answer: str, name: str, kind: str) -> str:
    """The model's reply as a one-line text: no echoed prompt, no ``name >=`` prefix, no quotes.

    Models often repeat the prompt or start with ``cat >=``; those words would
    otherwise be embedded with the text. For synonyms only the first word is kept.
    """
    text = answer.replace(SYSTEM_PROMPTS[kind], " ")
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    echoes = list(re.finditer(rf"{re.escape(name)}\s*{_ARROW}", text, re.IGNORECASE))
    if echoes:  # the answer starts after the last echo of "name >="
        text = text[echoes[-1].end():]
    previous = None
    while text != previous:  # peel arrows and quotes until nothing changes
        previous = text
        text = _strip_quotes(re.sub(rf"^\s*{_ARROW}\s*", "", text))
    if kind == "synonyms" and text:
        text = text.split()[0].strip(_QUOTES + _SINGLE_QUOTES + ".,;:!?()[]{}")
    return text


def config_settings(config: str) -> tuple[Path, bool, str | None]:
    """Class-name file, background flag and text kind a config implies."""
    from mmengine import Config  # only needed with --config

    sys.path.insert(0, str(REPO))
    from itaclip.presets import find_config
    from itaclip.segmentor import BACKGROUND_DATASETS

    path = find_config(config)
    if path is None:
        raise SystemExit(f"error: config {config} not found (give a path or a name from {REPO / 'configs'})")
    model = Config.fromfile(str(path), import_custom_modules=False).model
    background = model.get("background")
    if background is None:
        background = model.get("dataset_name") in BACKGROUND_DATASETS
    aux = Path(model.get("auxiliary_text_path") or "").stem
    kind = next((k for k in KINDS if aux.endswith(k)), None)
    return Path(model.name_path), bool(background), kind


def first_names(class_file: Path, background_first: bool) -> list[str]:
    """The first name of each class line, the background line skipped: the names the model is asked about."""
    sys.path.insert(0, str(REPO))
    from itaclip.class_files import parse_class_line  # light: the segmentor's own parsing of a class line

    # utf-8-sig, as class_files reads it: a byte-order mark is not part of the first name
    try:
        lines = [line for line in class_file.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise SystemExit(f"error: class-name file {class_file} is not UTF-8 text; save it as UTF-8") from None
    except OSError as err:
        raise SystemExit(f"error: class-name file {class_file} cannot be read ({err.strerror or err})") from None
    names = [parse_class_line(line)[0].strip() for line in lines]
    names = names[1:] if background_first else names
    clashing = [name for name in names if SEPARATOR in name]
    if clashing:  # the text file could not be read back: its lines are "name >=text"
        raise SystemExit(f"error: class name {clashing[0]!r} in {class_file} holds {SEPARATOR!r}, which separates a "
                         "name from its text in the file written; rename the class")
    return names


def kept_lines(out: Path, names: list[str]) -> list[str]:
    """Lines of an earlier run to keep: the leading ones whose name matches the class list, in order."""
    if not out.is_file():
        return []
    kept = []
    for line, name in zip(out.read_text(encoding="utf-8").splitlines(), names):
        found, sep, text = line.partition(SEPARATOR)
        if not sep or found.strip() != name or not text.strip():
            break
        kept.append(line)
    return kept


def write_atomic(path: Path, lines: list[str]) -> None:
    """Replace ``path`` in one step, so an interruption never leaves a half-written file."""
    sys.path.insert(0, str(REPO))
    from itaclip.atomic import atomic_write  # here, so --help does not wait for torch and mmseg

    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in lines))


def load_model(model_id: str, device: str):
    """Tokenizer and model, half precision on a GPU; transformers is imported here so --help works without it."""
    try:
        import torch
        import transformers
    except ImportError:
        raise SystemExit('error: transformers is not installed; run pip install -e ".[llm]"') from None
    from packaging.version import Version

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    dtype_key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_id)
        model = transformers.AutoModelForCausalLM.from_pretrained(model_id, **{dtype_key: dtype}).to(device).eval()
    except (OSError, ValueError) as err:  # offline, a missing folder, a name the hub does not know
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SystemExit(f"error: --model {model_id}: cannot load it ({first}); give a local folder of a causal "
                         "language model, or a hub id when this machine is online") from None
    return tokenizer, model


def ask(tokenizer, model, name: str, kind: str, args: argparse.Namespace, seed: int) -> str:
    """One sampled answer of the model about ``name``, decoded without the prompt."""
    import torch
    import transformers

    messages = [{"role": "system", "content": SYSTEM_PROMPTS[kind]},
                {"role": "user", "content": user_prompt(name)}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True).to(model.device)
    transformers.set_seed(seed)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        output = model.generate(**inputs, do_sample=True, temperature=args.temperature, top_p=args.top_p,
                                max_new_tokens=args.max_new_tokens, pad_token_id=pad)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Ask an instruct model (through transformers) for a definition or a synonym of each\n"
                    "class, with the paper's prompts and sampling, and write the auxiliary-text file ITACLIP\n"
                    "reads: 'name >=text', one line per class, background excluded. Rerun the same command\n"
                    "to resume an interrupted run.",
        epilog="examples:\n"
               "  python scripts/generate_texts.py --config cfg_voc21 --out my_voc21_definitions.txt\n"
               "  python scripts/generate_texts.py --classes my_classes.txt --kind synonyms --out my_synonyms.txt\n"
               '\nneeds transformers: pip install -e ".[llm]"')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--classes", type=Path, help="class-name file (one class per line, names separated by ', ')")
    source.add_argument("--config", help="ITACLIP config (path or bare name like cfg_voc21): its class file, "
                                         "background setting and text kind are used")
    parser.add_argument("--out", type=Path, required=True, help="auxiliary-text file to write (or resume)")
    parser.add_argument("--force", action="store_true",
                        help="replace lines of an existing --out that do not follow the class list (without it, "
                             "such a file is left as it is)")
    parser.add_argument("--kind", choices=KINDS, help="definitions (at most 50 words) or synonyms (one word); "
                                                      "default: the config's kind, else definitions")
    parser.add_argument("--background-first", action=argparse.BooleanOptionalAction, default=None,
                        help="line 1 of the class file is background and gets no text "
                             "(default: from the config, else no)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"hub id or local folder (default {DEFAULT_MODEL})")
    parser.add_argument("--temperature", type=float, default=0.6, help="sampling temperature (default 0.6)")
    parser.add_argument("--top-p", type=float, default=0.9, help="nucleus sampling top_p (default 0.9)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="answer length limit (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="class k is sampled with seed+k, so a resumed run "
                                                           "matches an uninterrupted one (default 0)")
    parser.add_argument("--device", help="torch device (default cuda if available, else cpu)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    class_file, background, kind = args.classes, bool(args.background_first), None
    if args.config:
        class_file, background, kind = config_settings(args.config)
        if args.background_first is not None:
            background = args.background_first
    kind = args.kind or kind or "definitions"
    if not class_file.is_file():
        raise SystemExit(f"error: class-name file {class_file} does not exist")
    names = first_names(class_file, background)
    sys.path.insert(0, str(REPO))
    from itaclip.atomic import check_writable  # light

    try:  # --out can be written: said now, not after the model has answered
        check_writable(args.out.parent)
    except OSError as err:
        raise SystemExit(f"error: --out {args.out}: cannot write there ({err.strerror or err}); choose another "
                         "file") from None
    lines = kept_lines(args.out, names)
    existing = len(args.out.read_text(encoding="utf-8").splitlines()) if args.out.is_file() else 0
    if existing > len(lines) and not args.force:  # never shorten a file that is not a partial run of this list
        raise SystemExit(f"error: --out {args.out}: its lines after line {len(lines)} ({existing - len(lines)} of "
                         f"{existing}) do not follow the class list of {class_file}; choose another --out, or add "
                         "--force to replace them")
    if existing > len(lines):
        print(f"note: --force: {existing - len(lines)} lines of {args.out} after line {len(lines)} will be "
              "dropped or regenerated", flush=True)
    print(f"{len(names)} classes from {class_file}{' (background skipped)' if background else ''}, "
          f"{kind}, {len(lines)} already in {args.out}", flush=True)
    if len(lines) == len(names):
        write_atomic(args.out, lines)  # drops any stale lines past the last class
        return 0

    import torch  # after the cheap checks: loading the model takes a while

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer, model = load_model(args.model, device)
    for index in range(len(lines), len(names)):
        name = names[index]
        for attempt in range(ATTEMPTS):
            text = clean_answer(ask(tokenizer, model, name, kind, args, args.seed + index + 1000 * attempt),
                                name, kind)
            if text:
                break
        else:
            raise SystemExit(f"error: the model gave no usable answer for '{name}' in {ATTEMPTS} tries; "
                             f"the {index} lines before it are saved in {args.out}, rerun to resume")
        lines.append(f"{name} {SEPARATOR}{text}")
        write_atomic(args.out, lines)
        words = len(text.split())
        note = f" (warning: {words} words)" if kind == "definitions" and words > MAX_DEFINITION_WORDS else ""
        print(f"[{index + 1}/{len(names)}] {name} >={text}{note}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
