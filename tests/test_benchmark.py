"""scripts/benchmark.py runs on CPU with the tiny checkpoint and prints one valid JSON line."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_prints_json(tiny_checkpoint):
    """Both paths run on one small image; labels agree; the fields a reader needs are there."""
    cmd = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--weights", str(tiny_checkpoint),
           "--device", "cpu", "--input-size", "120", "150", "--ori-size", "130", "170", "--images", "1",
           "--sequential-images", "1", "--warmup", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["precision"] == "fp32" and result["classes"] == 21 and result["config"] == "cfg_voc21.py"
    assert result["llm_texts"] is True  # the config's texts, read offline (this project's)
    assert result["build_s"]["cold"] > 0 and 0 < result["build_s"]["warm"]
    for path in ("batched", "sequential"):
        assert result[path]["images"] == 1
        assert result[path]["s_per_image"] > 0 and result[path]["peak_memory_mib"] > 0
    assert result["speedup"] > 0
    assert result["labels_equal"] >= 0.999 and result["max_prob_diff"] <= 1e-4
