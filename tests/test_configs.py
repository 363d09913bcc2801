"""Every config loads, names a registered data set whose classes match its class file, and builds."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS

import itaclip.models  # noqa: F401  (registers the model and data sets)
from itaclip import llm_texts
from itaclip.segmentor import BACKGROUND_DATASETS

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# config -> (classes, short side S, logit_scale, prob_thd, area_thd, beta, lambda, background) of METHOD.md section 6
PAPER = {
    "cfg_voc21.py": (21, 336, 60, 0.1, 0.1, 0.05, 0.7, True),
    "cfg_context60.py": (60, 336, 55, 0.1, None, 0.15, 0.75, True),
    "cfg_coco_object.py": (81, 336, 50, 0.1, None, 0.1, 0.75, True),
    "cfg_coco_stuff164k.py": (171, 448, 40, 0.0, None, 0.2, 0.75, False),
    "cfg_cityscapes.py": (19, 560, 40, 0.0, None, 0.05, 0.7, False),
}
OURS = {"cfg_voc20.py": 20, "cfg_context59.py": 59, "cfg_ade20k.py": 150}
ALL = sorted(p.name for p in CONFIGS.glob("cfg_*.py"))
MANY_CLASSES = ("cfg_ade20k.py", "cfg_coco_object.py", "cfg_coco_stuff164k.py")  # 81-171 names to embed: seconds each


def test_every_config_is_listed():
    """The paper's five data sets and our three extra ones, nothing unchecked."""
    assert set(ALL) == set(PAPER) | set(OURS)


@pytest.mark.parametrize("name", ALL)
def test_config_loads_and_matches_its_data_set(name):
    """Class file, data set METAINFO and the shared settings agree."""
    cfg = Config.fromfile(str(CONFIGS / name))
    model, dataset = cfg.model, cfg.test_dataloader.dataset
    assert model.type == "ITACLIPSegmentor" and model.model_name == "ViT-B/16"
    assert (model.img_engineering, model.attn_self, model.slide_crop, model.slide_stride) == (True, True, 224, 28)
    assert (model.pamr_steps, tuple(model.pamr_stride)) == (10, (8, 16))
    lines = Path(model.name_path).read_text().splitlines()
    classes = DATASETS.get(dataset.type).METAINFO["classes"]
    assert len(lines) == len(classes) == (PAPER[name][0] if name in PAPER else OURS[name])
    assert model.auxiliary_text_path.startswith(("paper:", "ours:"))  # which ones: tests/test_paper_texts.py
    assert cfg.test_evaluator.type == "IoUMetric" and cfg.test_evaluator.ignore_index == 255


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_settings(name):
    """The paper's hyper-parameters and short side, per data set (section 6)."""
    _, short, scale, prob, area, beta, lam, background = PAPER[name]
    cfg = Config.fromfile(str(CONFIGS / name))
    m = cfg.model
    assert (m.logit_scale, m.prob_thd, m.get("area_thd"), m.def_coefficient, m.img_eng_coefficient) == \
        (scale, prob, area, beta, lam)
    assert cfg.test_dataloader.dataset.pipeline[1] == dict(type="Resize", scale=(2048, short), keep_ratio=True)
    assert (m.dataset_name in BACKGROUND_DATASETS) is background


@pytest.mark.parametrize("name", sorted(PAPER))
def test_class_files_are_the_papers(name, golden_dir):
    """configs/cls_*.txt are exactly the lists of CLASS_NAMES.md, name for name."""
    spec = (golden_dir.parent / "spec" / "CLASS_NAMES.md").read_text()
    blocks = {len(b.splitlines()): b.splitlines() for b in re.findall(r"```\n(.*?)```", spec, re.S)}
    cfg = Config.fromfile(str(CONFIGS / name))
    lines = Path(cfg.model.name_path).read_text().splitlines()
    assert lines == blocks[PAPER[name][0]]


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in MANY_CLASSES else name
                                  for name in ALL])
def test_config_builds_its_segmentor(name, tiny_checkpoint):
    """Each config's model builds with the tiny checkpoint, embedding this project's shipped LLM texts
    (``--texts ours``: the paper's would need the network)."""
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.model.auxiliary_text_path = llm_texts.switch(cfg.model.auxiliary_text_path, "ours")
    assert llm_texts.resolve(cfg.model.auxiliary_text_path).is_file()
    cfg.model.update(model_name=str(tiny_checkpoint), device="cpu")
    init_default_scope("mmseg")
    model = MODELS.build(cfg.model)
    assert model.num_classes == len(Path(cfg.model.name_path).read_text().splitlines())
