"""Labelling a collection: which images, under which names, on which process, and the run's manifest.

Light on purpose (no torch): the command checks its inputs with it before anything heavy loads.

* **Inputs** (:func:`find_inputs`): files as given and folders (one level, or walked to any depth with
  ``recursive``; the masks and overlays this project wrote, known by the JSON beside them, are not inputs),
  or the lines of a list file (``-``: standard input), read lazily. Every process of a
  distributed run walks the same inputs in the same order and computes the same names.
* **Names** (``Item.stem``, a relative path without suffix, ``/`` between folders): a file given directly
  keeps its own stem (made unique among the files given, as :func:`unique_stems` says); an image found in a
  folder walk keeps its path below that folder (``a/b/x``; its folder's name in front when several folders
  are given); a listed path keeps its path as written (an absolute one below its root). Two images of one
  folder that differ only in their suffix get it in their names (``x_jpg``, ``x_png``).
* **Shares** (:class:`Launch`, :func:`mine`): process ``rank`` of ``world`` takes the items whose name hashes
  to it (CRC-32 modulo the world size), so equal names always meet on one process, in input order.
* **Manifest** (:class:`Manifest`): one JSON line per input, appended by each process to its own part and
  flushed line by line, so a crash loses no line already written; when all have finished (a barrier of a
  ``gloo`` process group, :func:`join`), process 0 merges the parts into ``manifest.jsonl`` in input order.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
import zlib
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

from .atomic import atomic_write

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")
MANIFEST = "manifest.jsonl"
PARTS = ".itaclip-parts"  # the processes' manifest parts and end marks, under --out


class InputError(ValueError):
    """An input that is not there or names no image (one line naming it)."""


@dataclass(frozen=True)
class Item:
    """One input: its place in the input order, its path and the name its results take under ``--out``."""

    index: int
    path: Path
    stem: str


RESULT_SUFFIXES = ("_mask.png", "_overlay.png", "_mask.tif")  # files itaclip writes beside <stem>.json


def is_result(path: Path) -> bool:
    """Whether ``path`` is a result this project wrote: a mask or overlay with its ``<stem>.json`` record
    beside it (the JSON decides, not the suffix alone: a user's own ``x_mask.png`` is an input)."""
    name = path.name
    suffix = next((end for end in RESULT_SUFFIXES if name.endswith(end)), None)
    if suffix is None:
        return False
    try:
        record = json.loads((path.parent / f"{name[:-len(suffix)]}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and "image" in record and "classes" in record


def is_image(path: Path) -> bool:
    """An input image: an image suffix, and not one of this project's results."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not is_result(path)


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """A unique, deterministic stem per path, in order.

    A path's own stem when no other shares it; else its file name with the
    extension (``x.jpg`` -> ``x_jpg``), then with its folder's name in front
    (the same file name in two folders); ``-2``, ``-3`` only as a last resort.
    """
    def unique(candidates: list[str], fallback) -> list[str]:
        counts = Counter(candidates)
        return [name if counts[name] == 1 else fallback(name, path) for name, path in zip(candidates, paths)]

    names = unique([path.stem for path in paths], lambda _, path: path.name.replace(".", "_"))
    names = unique(names, lambda name, path: f"{path.resolve().parent.name}_{name}")
    taken: set[str] = set()
    stems = []
    for name in names:
        stem, count = name, 1
        while stem in taken:
            count += 1
            stem = f"{name}-{count}"
        taken.add(stem)
        stems.append(stem)
    return stems


def _walk(folder: Path, prefix: str) -> Iterator[tuple[Path, str]]:
    """Images below ``folder`` at any depth, folder by folder in sorted order, with their relative stems."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        images = [Path(root) / name for name in sorted(files) if is_image(Path(root) / name)]
        relative = Path(root).relative_to(folder).as_posix()
        here = "/".join(part for part in (prefix, relative) if part and part != ".")
        for path, stem in zip(images, unique_stems(images)):
            yield path, f"{here}/{stem}" if here else stem


def _listed_stem(text: str) -> str:
    """A listed path's name: the path as written, without its suffix (an absolute one below its root)."""
    path = Path(text)
    parts = [part for part in path.with_suffix("").parts if part not in (path.anchor, "", ".")]
    return "/".join("_" if part == ".." else part for part in parts)


def read_list(source: str) -> Iterator[str]:
    """The non-blank lines of a list file (``-``: standard input), one at a time."""
    stream: IO[str]
    if source == "-":
        stream, close = sys.stdin, False
    else:
        try:
            stream, close = open(source, encoding="utf-8"), True
        except OSError as err:
            raise InputError(f"--input-list {source}: cannot read it ({err.strerror or err})") from None
    try:
        for line in stream:
            text = line.rstrip("\r\n")
            if text.strip():
                yield text
    except UnicodeDecodeError:
        raise InputError(f"--input-list {source}: not UTF-8 text; write one path per line") from None
    finally:
        if close:
            stream.close()


def find_inputs(inputs: Sequence[str] = (), recursive: bool = False, input_list: str | None = None,
                start: int = 0) -> Iterator[Item]:
    """Every input, in a deterministic order, with its name (see the module's docstring), numbered from
    ``start``.

    Given files and folders are checked first (an :class:`InputError` for one that is not there); listed
    paths are not (a missing one is that input's failure, reported in the manifest).
    """
    for item in inputs:
        if not Path(item).exists():
            raise InputError(f"{item}: no such file or folder")
    index = start
    files = [Path(item) for item in inputs if Path(item).is_file()]
    folders = [Path(item) for item in inputs if Path(item).is_dir()]
    for path, stem in zip(files, unique_stems(files)):
        yield Item(index, path, stem)
        index += 1
    for folder in folders:
        if recursive:
            found = _walk(folder, folder.resolve().name if len(folders) > 1 else "")
        else:
            images = sorted(p for p in folder.iterdir() if p.is_file() and is_image(p))
            found = zip(images, unique_stems(images))
        for path, stem in found:
            yield Item(index, path, stem)
            index += 1
    if input_list is not None:
        for text in read_list(input_list):
            yield Item(index, Path(text), _listed_stem(text))
            index += 1


def collect(inputs: Sequence[str], recursive: bool = False, input_list: str | None = None) -> list[Item]:
    """:func:`find_inputs` of the files and folders given on the command line (a list file is streamed after
    them: ``find_inputs(input_list=..., start=len(items))``), names made unique; an :class:`InputError` if none
    and no list."""
    if input_list not in (None, "-"):  # a list that cannot be opened is said now, not once the model is built
        try:
            open(input_list, encoding="utf-8").close()
        except OSError as err:
            raise InputError(f"--input-list {input_list}: cannot read it ({err.strerror or err})") from None
    items = list(find_inputs(inputs, recursive))
    if not items and input_list is None:
        raise InputError(f"no images found in {', '.join(inputs)} (looked for {', '.join(IMAGE_SUFFIXES)}"
                         f"{'' if recursive else '; add --recursive to look in subfolders'})")
    stems = [item.stem for item in items]
    if len(set(stems)) < len(stems):  # a file given directly and one found in a folder: made unique here
        stems = unique_stems([Path(stem) for stem in stems])
        items = [Item(item.index, item.path, stem) for item, stem in zip(items, stems)]
    return items


# ------------------------------------------------------------------------------------------ processes

@dataclass(frozen=True)
class Launch:
    """This process's place in a run: ``rank`` of ``world`` processes, ``local_rank`` on its machine (its
    GPU), and the ``launcher`` that started it."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    launcher: str = "none"

    @classmethod
    def of(cls, launcher: str | None, env: dict[str, str] | None = None) -> "Launch":
        """The launch ``launcher`` says (``none``, ``pytorch``: torchrun's ``RANK``/``WORLD_SIZE``/
        ``LOCAL_RANK``, ``slurm``: ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID``); None: pytorch's when
        ``WORLD_SIZE`` and ``RANK`` are set, else one process."""
        env = dict(os.environ if env is None else env)
        if launcher is None:
            launcher = "pytorch" if "WORLD_SIZE" in env and "RANK" in env else "none"
        if launcher == "none":
            return cls()
        keys = dict(pytorch=("RANK", "WORLD_SIZE", "LOCAL_RANK"),
                    slurm=("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"))[launcher]
        missing = [key for key in keys if not env.get(key, "").isdigit()]
        if missing:
            how = "torchrun" if launcher == "pytorch" else "srun"
            raise InputError(f"--launcher {launcher}: {missing[0]} is not set; start the command with {how}, or "
                             "leave --launcher out")
        rank, world, local = (int(env[key]) for key in keys)
        return cls(rank, world, local, launcher)


def join(launch: Launch) -> None:
    """Join this run's ``gloo`` process group (only a barrier is ever asked of it; the images need none).

    torchrun gives the rendezvous address; under Slurm it is the job's first node (``scontrol``) and
    ``$MASTER_PORT`` (29511 when unset).
    """
    if launch.world == 1:
        return
    import datetime
    import subprocess

    import torch.distributed as dist

    if launch.launcher == "slurm":
        if "MASTER_ADDR" not in os.environ:
            hosts = subprocess.run(["scontrol", "show", "hostnames", os.environ["SLURM_NODELIST"]],
                                   capture_output=True, text=True, check=True).stdout.split()
            os.environ["MASTER_ADDR"] = hosts[0]
        os.environ.setdefault("MASTER_PORT", "29511")
        os.environ.update(RANK=str(launch.rank), WORLD_SIZE=str(launch.world), LOCAL_RANK=str(launch.local_rank))
    # the barrier at the end waits for the slowest process's share: days, not the default half hour
    dist.init_process_group("gloo", timeout=datetime.timedelta(days=30))
    shared = [run_token()]
    dist.broadcast_object_list(shared, src=0)  # every process names its part after process 0's run
    os.environ[TOKEN_VARIABLE] = shared[0]


TOKEN_VARIABLE = "ITACLIP_RUN_TOKEN"


def run_token() -> str:
    """This run's name for its manifest parts (process 0's machine and pid, shared by :func:`join`), so that
    runs into one ``--out`` at the same time keep their parts apart."""
    return os.environ.get(TOKEN_VARIABLE) or f"{socket.gethostname()}-{os.getpid()}"


def wait_for_all(launch: Launch) -> None:
    """Every process has finished its share (a no-op for one process)."""
    if launch.world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()


def owner(stem: str, world: int) -> int:
    """The process that labels ``stem``: CRC-32 of the name, modulo the number of processes."""
    return zlib.crc32(stem.encode("utf-8")) % world


def mine(items: Iterable[Item], launch: Launch) -> Iterator[Item]:
    return (item for item in items if owner(item.stem, launch.world) == launch.rank)


# ------------------------------------------------------------------------------------------ manifest

def manifest_line(item: Item, status: str, outputs: Sequence[str] = (), reason: str | None = None,
                  size: tuple[int, int] | None = None) -> dict:
    """One input's line: its path, outputs (relative to ``--out``), ``ok``/``skipped``/``failed``, the reason
    of a failure and the image's size (width, height) when it was read."""
    line = dict(index=item.index, path=str(item.path), outputs=list(outputs), status=status)
    if reason is not None:
        line["reason"] = reason
    if size is not None:
        line["width"], line["height"] = size
    return line


class Manifest:
    """This process's part of the manifest: lines appended and flushed one by one (from any thread)."""

    def __init__(self, out: Path, launch: Launch):
        self.out, self.launch, self.token = out, launch, run_token()
        folder = out / PARTS
        folder.mkdir(parents=True, exist_ok=True)
        self.part = open(folder / f"{self.token}-rank{launch.rank}-of{launch.world}.jsonl", "a", encoding="utf-8")
        self.counts: Counter = Counter()
        self.lock = threading.Lock()

    def write(self, line: dict) -> None:
        with self.lock:
            self.part.write(json.dumps(line) + "\n")
            self.part.flush()
            self.counts[line["status"]] += 1

    def finish(self) -> dict | None:
        """Close this part; once every process has (:func:`wait_for_all`), process 0 merges the parts into
        ``manifest.jsonl`` and gets the run's totals (None for the others)."""
        self.part.close()
        wait_for_all(self.launch)
        return merge_parts(self.out, self.token) if self.launch.rank == 0 else None


def read_lines(path: Path) -> list[dict]:
    """The lines of a manifest or a part; a line cut short by a crash is left out."""
    lines = []
    try:
        with open(path, encoding="utf-8") as f:
            for text in f:
                try:
                    lines.append(json.loads(text))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return lines


def merge_parts(out: Path, token: str) -> dict:
    """This run's parts into ``manifest.jsonl``, one line per input in input order (the latest line of an
    input wins), then removed (a crashed run's parts stay, for ``--retry-failed``). The totals by status."""
    folder = out / PARTS
    parts = sorted(folder.glob(f"{token}-rank*-of*.jsonl"))
    latest: dict[int, dict] = {}
    for part in parts:
        for line in read_lines(part):
            latest[line["index"]] = line
    lines = [latest[index] for index in sorted(latest)]
    with atomic_write(out / MANIFEST, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    for path in parts:
        path.unlink(missing_ok=True)
    try:
        folder.rmdir()  # unless another run's parts are still there
    except OSError:
        pass
    return dict(Counter(line["status"] for line in lines), total=len(lines))


def failed_paths(out: Path) -> set[str]:
    """The inputs whose latest line, in ``manifest.jsonl`` or a part a crashed run left, says ``failed``."""
    latest: dict[str, str] = {}
    for path in [out / MANIFEST, *sorted((out / PARTS).glob("*-rank*-of*.jsonl"))]:
        for line in read_lines(path):
            latest[line["path"]] = line["status"]
    return {path for path, status in latest.items() if status == "failed"}


# ------------------------------------------------------------------------------------------ pipelining

def ahead(items: Iterable[Item], load: Callable[[Item], Any], workers: int) -> Iterator[tuple[Item, Any]]:
    """``(item, load(item))`` in input order, ``load`` running in ``workers`` threads ahead of the caller
    (at most ``2 * workers`` loaded and waiting: memory stays bounded). An exception ``load`` raises is
    returned in place of its value, for the caller to report. ``workers=0``: loaded when asked for."""
    def attempt(item: Item) -> Any:
        try:
            return load(item)
        except Exception as err:  # handed to the caller with its item
            return err

    if workers <= 0:
        for item in items:
            yield item, attempt(item)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="itaclip-read") as pool:
        pending: deque = deque()
        for item in items:
            pending.append((item, pool.submit(attempt, item)))
            if len(pending) >= 2 * workers:
                first, future = pending.popleft()
                yield first, future.result()
        while pending:
            first, future = pending.popleft()
            yield first, future.result()


class Behind:
    """Runs result writing in one thread behind the model, at most ``depth`` jobs queued (a job's error is
    raised at the next :meth:`submit` or at :meth:`close`)."""

    def __init__(self, depth: int = 2):
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="itaclip-write")
        self.pending: deque = deque()
        self.depth = depth

    def submit(self, job: Callable[[], None]) -> None:
        self.pending.append(self.pool.submit(job))
        while len(self.pending) > self.depth:
            self.pending.popleft().result()

    def close(self) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.pool.shutdown(wait=True)


# ------------------------------------------------------------------------------------------ claims

class Claims:
    """Exclusive claims on output names, so that runs writing into one ``--out`` at the same time never
    replace each other's results: ``.<stem>.claim`` beside the results, created with ``O_EXCL`` before an
    input is segmented and removed once its results have landed (or it failed). A claim whose process is
    gone (same machine, pid not running) is taken over."""

    def __init__(self, out: Path):
        self.out, self.held, self.lock = out, set(), threading.Lock()
        self.owner = f"{socket.gethostname()} {os.getpid()}"

    def path(self, stem: str) -> Path:
        stem_path = self.out / stem
        return stem_path.parent / f".{stem_path.name}.claim"

    def take(self, stem: str) -> bool:
        path = self.path(stem)
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._stale(path):
                    return False
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self.owner)
            with self.lock:
                self.held.add(stem)
            return True
        return False

    def _stale(self, path: Path) -> bool:
        try:
            host, pid = path.read_text().split()
        except (OSError, ValueError):
            return False
        if host != socket.gethostname():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, ValueError):
            return False
        return False

    def holder(self, stem: str) -> str:
        """Who holds the claim on ``stem`` (host and pid), for the message."""
        try:
            return self.path(stem).read_text().strip() or "an unknown process"
        except OSError:
            return "a run that has just finished"

    def release(self, stem: str) -> None:
        with self.lock:
            if stem not in self.held:
                return
            self.held.discard(stem)
        self.path(stem).unlink(missing_ok=True)

    def release_all(self) -> None:
        for stem in list(self.held):
            self.release(stem)
