# Pascal Context val, all 459 classes (no background class), ProxyCLIP.
# Authors' settings (mc-lan/ProxyCLIP at e7b767f, cfg_context459.py): S 448, slide 336/112, logit_scale 40,
# prob_thd 0.0; labels: detectron2's uint16 .tif maps (annotations_detectron2/pc459_val). Their eval_all.py
# leaves this data set out; its reported mIoU is not recorded in this project.
# Evaluation: ignore index 65535 (the unlabelled value), not the authors' 255 (../_base_/datasets/context459.py).
# Class names one per line, kept whole; the authors' file has CRLF line ends, read in text mode as they do.
_base_ = ['../_base_/datasets/context459.py', '../_base_/models/proxyclip.py']

model = dict(name_path='{{fileDirname}}/cls_context459.txt')
