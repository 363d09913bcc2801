"""Class-name files and LLM-text files (paper section 3): reading and cross-checking them.

Plain Python, no torch: the command checks its files with these before
anything heavy loads. A class-name file has one line per class; a line may
hold several names separated by ``", "``, each of which is a *query*. An
auxiliary-text file has one ``name >=text`` line per class (background
excluded), each starting with the first name of its class. Class strings
typed by people (``"cat, dog, tv; monitor"``: commas between classes, ``;``
between synonyms) are parsed here too, the one place for the command, the
page and the API.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

AUX_SEPARATOR = ">="


class TextFileError(ValueError):
    """A class-name or auxiliary-text file is missing or malformed (one-line message)."""


def _read_lines(path: str | Path, what: str, option: str) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise TextFileError(f"{what} file {path} does not exist; set {option} to an existing file")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # a byte-order mark is not part of the first name
    except UnicodeDecodeError as err:
        line = path.read_bytes()[:err.start].count(b"\n") + 1
        raise TextFileError(f"{what} file {path}, line {line} is not UTF-8 text; save the file as UTF-8") from None
    except OSError as err:
        raise TextFileError(f"{what} file {path} cannot be read ({err.strerror or err})") from None
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


# Class strings typed by people (``--classes``/``--background``, the page's text boxes, ``Segmenter.from_classes``):
# commas between classes, ";" between the names (synonyms) of one class. Class-name *files* use ", " instead.
CLASS_SEPARATOR = ","
SYNONYM_SEPARATOR = ";"


def split_list(text: str) -> list[str]:
    """``"wall, floor,, sky"`` -> ``["wall", "floor", "sky"]``: comma-separated items, stripped, empty ones dropped."""
    return [item.strip() for item in text.split(CLASS_SEPARATOR) if item.strip()]


def _synonyms(item: str | Sequence[str]) -> list[str]:
    names = item.split(SYNONYM_SEPARATOR) if isinstance(item, str) else list(item)
    return [name.strip() for name in names if name.strip()]


def parse_names(item: str | Sequence[str]) -> list[str]:
    """The names of one class: a list as given, or a string with ``;`` between synonyms."""
    names = _synonyms(item)
    if not names:
        raise ValueError(f"class {item!r} has no name")
    return names


def parse_classes(text: str) -> list[list[str]]:
    """``"cat, dog, tv; monitor"`` -> ``[["cat"], ["dog"], ["tv", "monitor"]]`` (an empty class stays empty)."""
    return [_synonyms(item) for item in split_list(text)]


def parse_background(text: str) -> list[str]:
    """Background names, each its own name of class 0: commas or ``;`` between them (empty when none)."""
    return split_list(text.replace(SYNONYM_SEPARATOR, CLASS_SEPARATOR))


def check_distinct(classes: Sequence[Sequence[str]], background: Sequence[str] | None = None) -> None:
    """Refuse, in one ValueError line naming them, names given twice (after trimming, ignoring case) among
    the classes typed for one run (background names included): equal queries would split their pixels by
    float noise. Data sets' own class files are not checked (COCO-Object's has 'bed' twice, by design)."""
    seen: dict[str, int] = {}
    repeated: dict[str, int] = {}
    for names in ([list(background)] if background else []) + [list(names) for names in classes]:
        for name in names:
            key = " ".join(name.split()).lower()
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                repeated[key] = seen[key]
    if repeated:
        listed = ", ".join(f"{name!r} ({count} times)" for name, count in repeated.items())
        raise ValueError(f"class names given more than once: {listed}; give each name once (synonyms of one "
                         "class go together with ';')")


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
