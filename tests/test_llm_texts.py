"""LLM texts: the shipped files, their validation, the generator and the paper-text fetcher (all offline)."""
from __future__ import annotations

import hashlib
import http.server
import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest
from mmengine.config import Config

from itaclip import llm_texts
from itaclip.class_files import TextFileError, load_texts
from itaclip.segmentor import BACKGROUND_DATASETS

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("cfg_*.py"))
SHIPPED = sorted((REPO / "llm_texts").glob("*.txt"))
GENERATE = REPO / "scripts" / "generate_texts.py"
FETCH = REPO / "scripts" / "fetch_paper_texts.py"
OFFLINE = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")


def _script(path: Path) -> ModuleType:
    """Import a script by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- name validation in load_texts -----------------------------------------------------------------------

def _files(tmp_path: Path, names: str, aux: str) -> tuple[Path, Path]:
    name_path, aux_path = tmp_path / "names.txt", tmp_path / "aux.txt"
    name_path.write_text(names)
    aux_path.write_text(aux)
    return name_path, aux_path


@pytest.mark.parametrize("background", [True, False])
def test_names_line_up_leniently(tmp_path, background):
    """Case, spaces, hyphens and underscores do not matter; only the first name of a class counts."""
    names = ("background, void\n" if background else "") + "potted plant, plant\ntv monitor\nT-shirt\n"
    name_path, aux_path = _files(tmp_path, names, "Potted-Plant >=a plant\ntv_monitor >=a screen\ntshirt >=a top\n")
    _, texts = load_texts(name_path, aux_path, background)
    assert texts == ["a plant", "a screen", "a top"]


ANIMALS = "background\nkitten, cat\ndog, plant\n"


@pytest.mark.parametrize("background,names,aux,line,found,wanted,class_line", [
    (True, ANIMALS, "cat >=pet\ndog >=hound\n", 1, "cat", "kitten", 2),  # a second name is not the first
    (True, ANIMALS, "kitten >=pet\nplant >=green\n", 2, "plant", "dog", 3),
    (False, "kitten\ndog\n", "dog >=hound\nkitten >=pet\n", 1, "dog", "kitten", 1),  # lines swapped
    (False, "background\nkitten\n", "kitten >=pet\nbackground >=x\n", 1, "kitten", "background", 1),
])
def test_name_mismatch_is_one_clear_error(tmp_path, background, names, aux, line, found, wanted, class_line):
    """A wrong name names both files, the line, what was found and expected, and the fix, on one line."""
    name_path, aux_path = _files(tmp_path, names, aux)
    with pytest.raises(TextFileError) as err:
        load_texts(name_path, aux_path, background)
    message = str(err.value)
    assert "\n" not in message
    assert str(name_path) in message and str(aux_path) in message
    assert f"line {line} is for '{found}'" in message and f"starts with '{wanted}'" in message
    assert f"line {class_line} of {name_path}" in message and f"'{wanted} >='" in message


def test_synonyms_are_not_normalised_away(tmp_path):
    """Only spelling is normalised: 'tvmonitor' is not 'television monitor'."""
    name_path, aux_path = _files(tmp_path, "television monitor\n", "tvmonitor >=screen\n")
    with pytest.raises(TextFileError, match="'tvmonitor'"):
        load_texts(name_path, aux_path)


# --- the shipped files -------------------------------------------------------------------------------------

def _config_texts(config: Path) -> tuple[str, str, bool]:
    model = Config.fromfile(config, import_custom_modules=False).model
    background = model.get("background")
    if background is None:
        background = model.get("dataset_name") in BACKGROUND_DATASETS
    return model.name_path, model.auxiliary_text_path, background


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_config_has_valid_texts(config):
    """Our file for a config exists and lines up with its classes (fails, never skips, when absent)."""
    name_path, aux_path, background = _config_texts(config)
    assert aux_path, f"{config.name} sets no auxiliary_text_path"
    ours = llm_texts.resolve(llm_texts.switch(aux_path, "ours"))
    classes, texts = load_texts(name_path, ours, background)
    assert len(texts) == len(classes) - background


# data set prefix of a shipped file -> (its class file, background line first)
CLASS_FILES = {"voc21": ("cls_voc21.txt", True), "context60": ("cls_context60.txt", True),
               "coco_object": ("cls_coco_object.txt", True), "coco_stuff": ("cls_coco_stuff.txt", False),
               "cityscapes": ("cls_cityscapes.txt", False), "ade20k": ("cls_ade20k.txt", False)}


def test_every_shipped_file_lines_up_with_its_classes():
    """Also the files no config names (the other kind): each matches its data set's class file."""
    assert SHIPPED, "llm_texts/ holds no *.txt file"
    for path in SHIPPED:
        dataset = path.stem.rsplit("_", 1)[0]
        assert dataset in CLASS_FILES, f"{path.name}: unknown data set {dataset!r}; add it to CLASS_FILES"
        class_file, background = CLASS_FILES[dataset]
        load_texts(REPO / "configs" / class_file, path, background)


def test_shipped_texts_follow_the_prompts():
    """Definitions have 1..50 words, synonyms exactly one; one file per data set and kind."""
    assert SHIPPED, "llm_texts/ holds no *.txt file"
    problems = []
    for path in SHIPPED:
        kind = path.stem.rsplit("_", 1)[-1]
        if kind not in ("definitions", "synonyms"):
            problems.append(f"{path.name}: name must end in _definitions.txt or _synonyms.txt")
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            words = len(line.partition(">=")[2].split())
            if words == 0 or (kind == "definitions" and words > 50) or (kind == "synonyms" and words != 1):
                problems.append(f"{path.name}:{number}: {words} words: {line!r}")
    assert not problems, "\n".join(problems)


# --- generator: cleaning, class lists ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _script(GENERATE)


@pytest.mark.parametrize("kind,answer,expected", [
    ("definitions", "a small pet", "a small pet"),
    ("definitions", "cat >= a small pet", "a small pet"),
    ("definitions", "Cat ≥ a small pet", "a small pet"),
    ("definitions", ">= a small pet", "a small pet"),
    ("definitions", '  "a small pet"  ', "a small pet"),
    ("definitions", "“‘a small pet’”", "a small pet"),
    ("definitions", "a small\npet that\n\n purrs.\n", "a small pet that purrs."),
    ("definitions", "cat >=\n\"a small pet\"", "a small pet"),
    ("definitions", "Sure! cat >= a small pet", "a small pet"),
    ("definitions", "the cat's whiskers", "the cat's whiskers"),
    ("synonyms", "feline", "feline"),
    ("synonyms", "cat ≥ feline.", "feline"),
    ("synonyms", "'Feline' or kitty", "Feline"),
    ("synonyms", "domestic cat\nfeline", "domestic"),
    ("definitions", "   \n ", ""),
])
def test_clean_answer(gen, kind, answer, expected):
    """Echoed prompts, arrows, quotes and line breaks go; synonyms keep one word."""
    assert gen.clean_answer(answer, "cat", kind) == expected


def test_clean_answer_drops_echoed_system_prompt(gen):
    echoed = gen.SYSTEM_PROMPTS["definitions"] + "\n" + gen.user_prompt("cat") + " a small pet"
    assert gen.clean_answer(echoed, "cat", "definitions") == "a small pet"


def test_prompts_follow_section_7(gen):
    """The user message is '<name> >='; the system messages ask for what the paper asked."""
    assert gen.user_prompt("potted plant") == "potted plant >="
    assert "50 words" in gen.SYSTEM_PROMPTS["definitions"] and "house >=" in gen.SYSTEM_PROMPTS["definitions"]
    assert "car >=" in gen.SYSTEM_PROMPTS["definitions"]
    assert "exactly one word" in gen.SYSTEM_PROMPTS["synonyms"]
    assert "house ≥ home; car ≥ automobile" in gen.SYSTEM_PROMPTS["synonyms"]


def test_config_gives_classes_background_and_kind(gen):
    """A bare config name finds configs/; background and kind come from the config."""
    name_path, background, kind = gen.config_settings("cfg_voc21")
    assert background and kind == "definitions"
    names = gen.first_names(name_path, background)
    assert len(names) == 20 and names[0] == "aeroplane"
    name_path, background, kind = gen.config_settings("cfg_cityscapes")
    assert not background and kind == "synonyms" and gen.first_names(name_path, background)[0] == "road"


def test_kept_lines_stop_at_first_mismatch(gen, tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("cat >=pet\ndog >=hound\nbird >=\ncow >=bovine\n")
    assert gen.kept_lines(out, ["cat", "dog", "bird", "cow"]) == ["cat >=pet", "dog >=hound"]
    assert gen.kept_lines(out, ["cat", "horse", "dog"]) == ["cat >=pet"]
    assert gen.kept_lines(tmp_path / "missing.txt", ["cat"]) == []


# --- generator end to end on a tiny random Llama -------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory) -> Path:
    """A 1-layer random Llama and a word-level tokenizer with a chat template, built here (no download)."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder = tmp_path_factory.mktemp("tiny_llm")
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece()  # joins words with spaces
    corpus = ["a small furry animal kept as a pet", "a loyal animal that barks at cars",
              "a road vehicle with four wheels", "system user assistant cat dog car >="]
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<unk>", "<pad>", "<eos>"]))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>",
                                                eos_token="<eos>")
    fast.chat_template = ("{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}"
                          "{% if add_generation_prompt %}assistant {% endif %}")
    fast.save_pretrained(folder)
    config = transformers.LlamaConfig(vocab_size=len(fast), hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                      max_position_embeddings=256, pad_token_id=fast.pad_token_id,
                                      eos_token_id=fast.eos_token_id, bos_token_id=None)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def _generate(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(GENERATE), *args], capture_output=True, text=True, env=OFFLINE,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_generator_end_to_end_resumes(tiny_llm, tmp_path):
    """One 'name >=text' line per class (background skipped); an interrupted file is resumed, not redone."""
    classes = tmp_path / "classes.txt"
    classes.write_text("background, void\ncat, kitty\ndog\ncar, automobile\n")
    out = tmp_path / "aux.txt"
    common = ["--model", str(tiny_llm), "--classes", str(classes), "--max-new-tokens", "8", "--device", "cpu",
              "--out", str(out), "--background-first"]
    first = _generate(*common)
    assert "[3/3] car >=" in first.stdout
    full = out.read_text(encoding="utf-8")
    lines = full.splitlines()
    assert [line.partition(" >=")[0] for line in lines] == ["cat", "dog", "car"]
    assert all(line.partition(" >=")[2].strip() for line in lines) and full.endswith("\n")
    assert load_texts(classes, out, background=True)[1] is not None

    out.write_text("cat >=my own text\n")  # an interrupted run, with a line that must survive byte for byte
    resumed = _generate(*common)
    assert "1 already in" in resumed.stdout and "[1/3]" not in resumed.stdout
    again = out.read_text(encoding="utf-8").splitlines()
    assert again[0] == "cat >=my own text" and again[1:] == lines[1:]  # per-class seeds: same as uninterrupted
    assert not list(tmp_path.glob(".*.part"))


# --- fetcher ---------------------------------------------------------------------------------------------

@pytest.fixture()
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/served, recording each requested path."""
    served = tmp_path / "served"
    served.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", served, requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture()
def fetcher(tmp_path, monkeypatch) -> ModuleType:
    """The script, with the cache in tmp_path; it uses the package's pin table (the test swaps it)."""
    monkeypatch.setenv("ITACLIP_CACHE", str(tmp_path / "cache"))
    return _script(FETCH)


def _serve(served: Path, fetcher: ModuleType, monkeypatch, contents: dict[str, bytes]) -> None:
    """Put files on the server and make the fetcher expect their digests."""
    digests = {}
    for name, data in contents.items():
        (served / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(llm_texts, "PAPER_SHA256", digests)


def test_fetch_verifies_and_skips_present_files(fetcher, server, tmp_path, monkeypatch, capsys):
    url, served, requests = server
    contents = {"voc21_definitions.txt": b"aeroplane >=a plane\n", "cityscapes_synonyms.txt": b"road >=street\n"}
    _serve(served, fetcher, monkeypatch, contents)
    out = tmp_path / "out"
    assert fetcher.main(["--base-url", url, "--out-dir", str(out)]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == contents
    assert sorted(requests) == ["/cityscapes_synonyms.txt", "/voc21_definitions.txt"]

    requests.clear()
    assert fetcher.main(["--base-url", url, "--out-dir", str(out)]) == 0
    assert requests == [] and "skipped" in capsys.readouterr().out


def test_fetch_refuses_a_bad_digest(fetcher, server, tmp_path, monkeypatch, capsys):
    url, served, _ = server
    _serve(served, fetcher, monkeypatch, {"voc21_definitions.txt": b"good\n", "coco_object_synonyms.txt": b"ok\n"})
    (served / "voc21_definitions.txt").write_bytes(b"tampered\n")
    out = tmp_path / "out"
    assert fetcher.main(["--base-url", url, "--out-dir", str(out)]) == 1
    assert [p.name for p in out.iterdir()] == ["coco_object_synonyms.txt"]  # no bad file, no temp file
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and "voc21_definitions.txt" in errors[0] and f"{url}voc21_definitions.txt" in errors[0]
    assert "SHA-256" in errors[0]


def test_fetch_only_and_missing_file(fetcher, server, tmp_path, monkeypatch, capsys):
    """--only fetches a subset; a 404 is one error line and leaves nothing behind."""
    url, served, requests = server
    _serve(served, fetcher, monkeypatch, {"voc21_definitions.txt": b"x\n", "context60_definitions.txt": b"y\n"})
    (served / "context60_definitions.txt").unlink()
    out = tmp_path / "out"
    assert fetcher.main(["--base-url", url, "--out-dir", str(out), "--only", "voc21_definitions.txt"]) == 0
    assert requests == ["/voc21_definitions.txt"]
    assert fetcher.main(["--base-url", url, "--out-dir", str(out), "--only", "context60_definitions.txt"]) == 1
    assert "context60_definitions.txt" in capsys.readouterr().err and sorted(p.name for p in out.iterdir()) == [
        "voc21_definitions.txt"]


# --- help ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("script,options", [
    (GENERATE, ["--model", "--kind", "--classes", "--config", "--background-first", "--out", "--seed", "--device",
                "--max-new-tokens"]),
    (FETCH, ["--out-dir", "--only", "--base-url"]),
])
def test_help(script, options):
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, env=OFFLINE,
                            timeout=60)
    assert result.returncode == 0 and all(option in result.stdout for option in options)


def test_fetch_fills_the_cache_that_runs_read(fetcher, server, monkeypatch):
    """By default the script writes where a run looks, from $ITACLIP_PAPER_TEXTS_URL; a run then needs no network."""
    url, served, requests = server
    _serve(served, fetcher, monkeypatch, {"voc21_definitions.txt": b"aeroplane >=a plane\n"})
    monkeypatch.setenv(llm_texts.URL_VARIABLE, url)
    assert fetcher.main([]) == 0 and requests == ["/voc21_definitions.txt"]
    monkeypatch.setenv(llm_texts.URL_VARIABLE, "http://127.0.0.1:9/nowhere")
    path = llm_texts.resolve("paper:voc21_definitions.txt")
    assert path == llm_texts.paper_cache() / "voc21_definitions.txt" and path.read_bytes() == b"aeroplane >=a plane\n"
    assert requests == ["/voc21_definitions.txt"]


def test_generator_never_shortens_a_file_for_other_classes(tmp_path):
    """An --out whose later lines follow another class list is refused whole (before any model), untouched."""
    classes = tmp_path / "classes.txt"
    classes.write_text("cat\ndog\ncar\nboat\n")
    out = tmp_path / "aux.txt"
    out.write_text("cat >=a pet\ndog >=a hound\ntree >=a plant\nroad >=a way\nsky >=the air\n")
    before = out.read_bytes()
    result = subprocess.run([sys.executable, str(GENERATE), "--model", "/nowhere/llm", "--classes", str(classes),
                             "--out", str(out)], capture_output=True, text=True, env=OFFLINE, timeout=120)
    assert result.returncode != 0 and out.read_bytes() == before
    assert f"--out {out}: its lines after line 2 (3 of 5) do not follow the class list" in result.stderr
    assert "--force" in result.stderr
