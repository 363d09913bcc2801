# Pascal VOC 2012 val without background, 20 classes (PascalVOC20Dataset: background ignored), ProxyCLIP.
# Authors' settings (mc-lan/ProxyCLIP at e7b767f, cfg_voc20.py): S 336, slide 336/112, logit_scale 40,
# prob_thd 0.0.
# The paper reports this data set; its number is not recorded in this project yet.
_base_ = ['../_base_/datasets/voc20.py', '../_base_/models/proxyclip.py']

model = dict(name_path='{{fileDirname}}/../clearclip/cls_voc20.txt')
