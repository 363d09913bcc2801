"""SC-CLIP (itaclip/scclip.py): each stage against a literal transcription of baselines/scclip.md, the golden
cases' intermediates stage by stage, any grid shape, its settings, and the command on its presets (eval.py on
its configs: tests/test_methods.py; every config: tests/test_method_configs.py)."""
import json

import numpy as np
import pytest
import torch
from mmseg.registry import MODELS
from PIL import Image

import itaclip.models  # noqa: F401  (registers SCCLIPForSegmentation)
from itaclip import cli, kernels, scclip
from itaclip.backbone import ForwardState
from itaclip.kernels import KernelContext
from itaclip.settings import SettingError

# --- literal transcriptions of the spec (section 5), one token at a time ---------------------------------

def literal_scores(x: torch.Tensor, k: int = 30) -> torch.Tensor:
    """Section 5.3 for one crop (N, D), token by token."""
    n = x.shape[0]
    dist = torch.stack([torch.stack([(x[i] - x[j]).norm() ** 2 for j in range(n)]) for i in range(n)])
    order = [sorted(range(n), key=lambda j: (dist[i, j].item(), j))[1:k + 1] for i in range(n)]
    lrd = []
    for i in range(n):
        kth = dist[i, order[i][-1]]
        lrd.append(k / torch.stack([torch.maximum(dist[i, j], kth) for j in order[i]]).mean())
    return torch.stack([torch.stack([lrd[j] / lrd[i] for j in order[i]]).mean() for i in range(n)])


def literal_repair(tokens: torch.Tensor, outliers: set, grid) -> torch.Tensor:
    """Section 5.5 on the row-major grid: mean of the valid 3 x 3 neighbours, from the original values."""
    gh, gw = grid
    out = tokens.clone()
    for n in outliers:
        r, c = divmod(n, gw)
        valid = [rr * gw + cc for rr in (r - 1, r, r + 1) for cc in (c - 1, c, c + 1)
                 if (rr, cc) != (r, c) and 0 <= rr < gh and 0 <= cc < gw and rr * gw + cc not in outliers]
        if valid:
            out[n] = tokens[valid].sum(0) / len(valid)
    return out


def test_outlier_scores_are_the_specs_formula():
    x = torch.randn(2, 60, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    scores = scclip.lof_scores(x)
    for b in range(2):
        torch.testing.assert_close(scores[b], literal_scores(x[b]), rtol=1e-10, atol=0)
    mask = scclip.outliers(scores)
    for b in range(2):  # strictly above the 0.95 quantile (linear interpolation): 3 of 60
        threshold = np.quantile(scores[b].numpy(), 0.95)
        assert mask[b].tolist() == (scores[b].numpy() > threshold).tolist() and mask[b].sum() == 3


def test_repair_is_the_neighbour_mean_of_valid_cells():
    """Runs of adjacent outliers, a border cell, and a cell with no valid neighbour (kept as it is)."""
    grid = (5, 7)
    tokens = torch.randn(1, 35, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cells = {0, 1, 7, 8, 9, 13, 20, 27, 34}  # 0's neighbours 1, 7, 8 are all outliers: 0 stays
    mask = torch.zeros(1, 35, dtype=torch.bool)
    mask[0, sorted(cells)] = True
    repaired = scclip.repair(tokens, mask, grid)
    torch.testing.assert_close(repaired[0], literal_repair(tokens[0], cells, grid), rtol=1e-12, atol=1e-12)
    assert torch.equal(repaired[0, 0], tokens[0, 0])


def test_the_kernels_fused_form_is_its_map():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 3, 20, 8, generator=g) for _ in range(3))
    guide = scclip.similarity(torch.randn(2, 20, 16, generator=g))
    context = KernelContext((4, 5), scclip.SCCLIP_BLOCK, None, guide)
    kernel = kernels.get_kernel("scclip")
    literal = kernel.attention_map(q, k, context)
    torch.testing.assert_close(literal.sum(-1), torch.ones(2, 3, 20))  # the two maps halved: rows sum to 1
    torch.testing.assert_close(kernel.attend(q, k, v, context), literal @ v, atol=1e-6, rtol=1e-5)


# --- the golden cases' intermediates, first window -----------------------------------------------------------

class Recording(scclip.SCCLIPEncoder):
    """Keeps what the last block saw: the outlier mask, the tokens of block L-1 and the similarity M."""

    def last_block(self, block, x, state: ForwardState, fused=True):
        out = super().last_block(block, x, state, fused)
        self.seen = dict(x=x, outliers=state.extra["outliers"], similarity=state.extra["similarity"])
        return out


def golden_cases(golden_dir):
    folder = golden_dir / "scclip"
    return [(folder, case) for case in json.loads((folder / "cases.json").read_text())["cases"]]


@pytest.mark.golden
def test_golden_intermediates_stage_by_stage(golden_dir, tiny_checkpoint):
    """LOF scores, the outlier set, the repaired block-9 similarity and the raw features of the first window."""
    for folder, case in golden_cases(golden_dir):
        keys = dict(case["segmentor"], name_path=str(folder / case["segmentor"]["name_path"]))
        model = MODELS.build(dict(type=case["type"], device="cpu", **{case["weights_key"]: str(tiny_checkpoint)},
                                  **keys))
        data = torch.load(folder / case["file"], weights_only=True)
        recording = Recording(model.encoder.ending, model.last_block)
        with torch.no_grad():
            features = recording(model.visual, data["inputs"][..., :224, :224])
        seen = recording.seen
        scores = scclip.lof_scores(seen["x"][:, 1:])[0]
        torch.testing.assert_close(scores, data["lof_scores"], atol=1e-4, rtol=1e-4)
        assert seen["outliers"][0].nonzero()[:, 0].tolist() == data["lof_outliers"].tolist(), case["case"]
        torch.testing.assert_close(seen["similarity"], data["block9_similarity"], atol=1e-5, rtol=0)
        torch.testing.assert_close(features[:, 1:], data["dense_features"], atol=1e-4, rtol=1e-4)


# --- any grid, any size -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model(tiny_checkpoint, golden_dir):
    return MODELS.build(dict(type="SCCLIPForSegmentation", clip_path=str(tiny_checkpoint), device="cpu",
                             name_path=str(golden_dir / "scclip" / "voc21_like.classes.txt"), slide_crop=0))


def test_a_non_square_grid_repairs_the_true_cells(model):
    """The whole image of a non-square photo (11 x 15 patches): the row-major cells are repaired; the authors'
    mapping (n // gh, n % gh) names other cells, some outside the grid (where their code raises)."""
    recording = Recording(model.encoder.ending, model.last_block)
    images = torch.randn(1, 3, 176, 240, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        recording(model.visual, images)
    gh, gw = 11, 15
    found = recording.seen["outliers"][0].nonzero()[:, 0].tolist()
    assert len(found) == 9  # 165 tokens: above the 0.95 quantile
    patches = recording.seen["x"][0, 1:]
    repaired = scclip.repair(patches[None], recording.seen["outliers"], (gh, gw))[0]
    torch.testing.assert_close(repaired, literal_repair(patches, set(found), (gh, gw)), atol=1e-6, rtol=1e-5)
    true_cells = [divmod(n, gw) for n in found]
    authors_cells = [divmod(n, gh) for n in found]
    assert true_cells != authors_cells
    assert any(col >= gw or row >= gh for row, col in authors_cells) or set(true_cells) != set(authors_cells)


@pytest.mark.parametrize("size", [(176, 240), (240, 176), (48, 64), (16, 16)])
def test_whole_images_of_any_shape_segment(model, size):
    """Non-square grids, and grids of fewer tokens than the 30 neighbours (every other token is one then)."""
    out = model.predict(torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(6)))[0]
    assert out.pred_sem_seg.data.shape == (1, *size) and torch.isfinite(out.seg_logits.data).all()


def test_batched_equals_sequential_on_a_non_square_whole_image(tiny_checkpoint, golden_dir):
    keys = dict(type="SCCLIPForSegmentation", clip_path=str(tiny_checkpoint), device="cpu", slide_crop=0,
                name_path=str(golden_dir / "scclip" / "voc21_like.classes.txt"))
    image = torch.randn(1, 3, 150, 230, generator=torch.Generator().manual_seed(7))
    fast = MODELS.build(keys).predict(image)[0]
    slow = MODELS.build(dict(keys, sequential=True)).predict(image)[0]
    assert (fast.seg_logits.data - slow.seg_logits.data).abs().max() <= 1e-4


@pytest.mark.parametrize("keys,line", [
    (dict(multi_start_idx=5, multi_end_idx=5), "multi_start_idx=5, multi_end_idx=5: the blocks summed are"),
    (dict(pre_adjust_idx=11), "pre_adjust_idx=11: pre_adjust_idx must be at most 10 for a vision tower of 12"),
    (dict(multi_end_idx=12), "multi_end_idx=12: multi_end_idx must be at most 11 for a vision tower of 12"),
    (dict(res_cls=2), "res_cls=2: res_cls must be a number from 0 to 1"),
    (dict(post_adjust_idx=-1), "post_adjust_idx=-1: post_adjust_idx must be a whole number, 0 or more"),
])
def test_impossible_settings_are_one_line(tiny_checkpoint, golden_dir, keys, line):
    with pytest.raises(SettingError) as caught:
        MODELS.build(dict(type="SCCLIPForSegmentation", clip_path=str(tiny_checkpoint), device="cpu",
                          name_path=str(golden_dir / "scclip" / "voc21_like.classes.txt"), **keys))
    assert line in str(caught.value) and "\n" not in str(caught.value)


# --- its presets through the command and eval.py -------------------------------------------------------------

def test_the_command_segments_a_non_square_photo_whole(tiny_checkpoint, tmp_path, capsys):
    image = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 200, 3), dtype=np.uint8)).save(image)
    status = cli.main(["segment", str(image), "--preset", "scclip/voc21", "--weights", str(tiny_checkpoint),
                       "--device", "cpu", "--set", "slide_crop=0", "--out", str(tmp_path / "out")])
    assert status == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "wide.json").read_text())
    assert summary["settings"]["method"] == "SCCLIPForSegmentation" and summary["settings"]["slide_crop"] == 0
    assert (summary["width"], summary["height"]) == (200, 90) and len(summary["classes"]) == 21
