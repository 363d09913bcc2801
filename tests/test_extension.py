"""A method from outside the package: a kernel and an adapter in a file of one's own, named by custom_imports.

The README's "Write your own method" example is the one run here, as written (its paths pointed at this
checkout and the tiny CLIP).
"""
import re
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from itaclip import kernels
from itaclip.presets import CONFIG_DIR
from itaclip.settings import SettingError

REPO = Path(__file__).resolve().parents[1]


def readme_example() -> dict[str, str]:
    """The README's files of the example, by the name on their first line (``# my_method.py``)."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Write your own method", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    return {re.match(r"# (\S+\.py)", block).group(1): block for block in blocks}


@pytest.fixture
def example(tmp_path, monkeypatch):
    files = readme_example()
    assert set(files) == {"my_method.py", "my_config.py"}
    for name, text in files.items():
        (tmp_path / name).write_text(text.replace("/path/to/itaclip/configs", str(CONFIG_DIR)))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("my_method", None)
    kernels.KERNELS.pop("sharp-kk", None)
    MODELS.module_dict.pop("SharpCLIP", None)


def test_the_readme_method_builds_from_its_config_and_segments(example, tiny_checkpoint):
    cfg = Config.fromfile(str(example / "my_config.py"))  # custom_imports: my_method registers itself
    assert "sharp-kk" in kernels.KERNELS and MODELS.get("SharpCLIP") is not None
    cfg.model.update(model_name=str(tiny_checkpoint), device="cpu")
    init_default_scope("mmseg")
    model = MODELS.build(cfg.model)
    assert model.last_block.attention == "sharp-kk" and model.protocol.slide_stride == 112
    assert (model.protocol.logit_scale, model.protocol.prob_thd) == (50, 0.1)
    assert model.num_classes == 21 and cfg.test_dataloader.dataset.type == "PascalVOCDataset"
    out = model.predict(torch.randn(1, 3, 150, 200))[0]
    assert out.pred_sem_seg.data.shape == (1, 150, 200)
    # the kernel's two forms agree, through the whole forward
    fused = model.encoder(model.visual, torch.randn(1, 3, 112, 144, generator=torch.Generator().manual_seed(0)))
    literal = model.encoder(model.visual, torch.randn(1, 3, 112, 144, generator=torch.Generator().manual_seed(0)),
                            fused=False)
    torch.testing.assert_close(fused, literal, atol=1e-5, rtol=1e-4)
    # and the kernel does something: plain k·k attention gives other features
    plain = MODELS.build(dict(cfg.model, last_block=dict(attention="kk")))
    assert not torch.allclose(plain.encoder(plain.visual, torch.ones(1, 3, 112, 112)),
                              model.encoder(model.visual, torch.ones(1, 3, 112, 112)))


def test_the_readme_method_checks_its_keys_like_any_other(example):
    Config.fromfile(str(example / "my_config.py"))
    method = MODELS.get("SharpCLIP")
    assert method.resolve(name_path="x.txt", residual=True).last_block.residual
    with pytest.raises(SettingError, match="prob_thd=2: prob_thd must be a number from 0 to 1"):
        method.resolve(name_path="x.txt", prob_thd=2)


def test_an_unregistered_kernel_is_one_line_naming_the_registry():
    from itaclip.backbone import LastBlock

    with pytest.raises(SettingError) as caught:
        LastBlock(attention="sharp-kk")
    assert str(caught.value).startswith("attention='sharp-kk': attention must be the name of a registered")
    assert "custom_imports" in str(caught.value) and "\n" not in str(caught.value)
