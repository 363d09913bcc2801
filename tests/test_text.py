"""Section 3: class-name files, auxiliary texts, template embeddings and mixing."""
import pytest
import torch
import torch.nn.functional as F

from itaclip import class_files, load_clip, text
from itaclip.class_files import TextFileError


def test_read_class_names(tmp_path):
    """Every ', '-separated name is a query of its line's class."""
    path = tmp_path / "names.txt"
    path.write_text("sky, wall\ncat\nperson, person in shirt, body\n")
    classes = class_files.read_class_names(path)
    assert classes == [["sky", "wall"], ["cat"], ["person", "person in shirt", "body"]]
    queries, idx = class_files.flatten_queries(classes)
    assert queries == ["sky", "wall", "cat", "person", "person in shirt", "body"]
    assert idx == [0, 0, 1, 2, 2, 2]


def test_read_auxiliary_texts(tmp_path):
    """Only the part after the first '>=' is kept; blank lines at the very end are no lines."""
    path = tmp_path / "aux.txt"
    path.write_text("cat >=a small pet\nroad >=street >= lane\n\n \n")
    assert class_files.read_auxiliary_texts(path) == [("cat", "a small pet"), ("road", "street >= lane")]


@pytest.mark.parametrize("content,needle", [
    ("cat >=pet\ndog\n", "line 2 has no '>='"),
    ("cat >=pet\n\ndog >=hound\n", "line 2 is blank"),
    ("", "is empty"),
])
def test_malformed_auxiliary_file(tmp_path, content, needle):
    """A malformed file is one line naming the file and the line."""
    path = tmp_path / "aux.txt"
    path.write_text(content)
    with pytest.raises(TextFileError) as err:
        class_files.read_auxiliary_texts(path)
    assert needle in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_names_the_option(tmp_path):
    """A missing class file names the option to fix."""
    with pytest.raises(TextFileError, match="name_path"):
        class_files.read_class_names(tmp_path / "nope.txt")


@pytest.mark.parametrize("background", [True, False])
def test_mixing(background):
    """(1-beta)*own + beta*aux[class(-1)], not renormalised; background queries untouched."""
    own = F.normalize(torch.randn(5, 8), dim=-1)
    idx = [0, 0, 1, 2, 2]
    aux = F.normalize(torch.randn(2 if background else 3, 8), dim=-1)
    out = text.mix_auxiliary(own, idx, aux, 0.2, background)
    for q, c in enumerate(idx):
        if background and c == 0:
            assert torch.equal(out[q], own[q])
        else:
            torch.testing.assert_close(out[q], 0.8 * own[q] + 0.2 * aux[c - 1 if background else c])


def test_embeddings_average_80_templates(tiny_checkpoint):
    """A query's embedding is the normalised mean of its 80 normalised prompt embeddings."""
    model = load_clip(str(tiny_checkpoint))
    assert len(text.TEMPLATES) == 80
    got = text.embed_texts(model, ["cat", "red car"])
    import open_clip

    tokens = open_clip.tokenize([t("red car") for t in text.TEMPLATES])
    per_prompt = F.normalize(model.model.encode_text(tokens), dim=-1)
    torch.testing.assert_close(got[1], F.normalize(per_prompt.mean(0), dim=0), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got.norm(dim=-1), torch.ones(2))


def test_line_count_mismatch(tiny_checkpoint, tmp_path):
    """Auxiliary lines must equal the non-background classes; the error names both files."""
    names, aux = tmp_path / "names.txt", tmp_path / "aux.txt"
    names.write_text("background\ncat\ndog\n")
    aux.write_text("cat >=pet\n")
    with pytest.raises(TextFileError) as err:
        class_files.load_texts(names, aux, background=True)
    assert str(names) in str(err.value) and str(aux) in str(err.value)
    aux.write_text("cat >=pet\ndog >=hound\n")
    classes, texts = class_files.load_texts(names, aux, background=True)
    assert texts == ["pet", "hound"]
    features, idx = text.query_embeddings(load_clip(str(tiny_checkpoint)), classes, texts, 0.1, background=True)
    assert features.shape[0] == 3 and idx == [0, 1, 2]


def test_each_text_is_encoded_once_per_model(tiny_checkpoint, monkeypatch):
    """A second request for known texts does not run the text tower again."""
    model = load_clip(str(tiny_checkpoint))
    first = text.embed_texts(model, ["zebra crossing", "lighthouse"])
    calls = []
    monkeypatch.setattr(model.model, "encode_text", lambda tokens: calls.append(tokens) or 1 / 0)
    again = text.embed_texts(model, ["lighthouse", "zebra crossing", "lighthouse"])
    assert calls == []
    torch.testing.assert_close(again, first[[1, 0, 1]])
