# ADE20K-full val, 847 classes (no background class), ProxyCLIP.
# Authors' settings (mc-lan/ProxyCLIP at e7b767f, cfg_ade847.py): S 448, slide 336/112, logit_scale 40,
# prob_thd 0.0; labels: detectron2's uint16 .tif maps (annotations_detectron2/validation). Their eval_all.py
# leaves this data set out; its reported mIoU is not recorded in this project.
# Evaluation: ignore index 65535 (the unlabelled value), not the authors' 255 (../_base_/datasets/ade847.py).
# 217 of the class lines hold ", " inside one name ("building, edifice"): the "; " separator keeps them whole.
_base_ = ['../_base_/datasets/ade847.py', '../_base_/models/proxyclip.py']

model = dict(name_path='{{fileDirname}}/cls_ade20k847.txt')
