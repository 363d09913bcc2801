#!/usr/bin/env python
"""Evaluate on a data set: the paper's entry point, kept for its users; ``itaclip eval`` is the same command.

    python eval.py --config configs/cfg_voc21.py --data-root data/VOCdevkit/VOC2012
    torchrun --nproc_per_node=4 eval.py --config cfg_voc21.py --data-root ... --launcher pytorch

The code is :mod:`itaclip.evaluate`.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # a checkout works without installing

from itaclip.evaluate import build_config, main, parse_args  # noqa: E402,F401  (tests call the first two)

if __name__ == "__main__":
    main()
