# Pascal VOC 2012 val, 21 classes (background: line 1, 26 names joined by "; "), ProxyCLIP.
# Authors' settings (mc-lan/ProxyCLIP at e7b767f, cfg_voc21.py): S 336, slide 336/112, logit_scale 40,
# prob_thd 0.2. Authors' reported mIoU
# (ProxyCLIP paper, ECCV 2024, ViT-B/16 + DINO ViT-B/8): 61.3.
_base_ = ['../_base_/datasets/voc21.py', '../_base_/models/proxyclip.py']

model = dict(name_path='{{fileDirname}}/cls_voc21.txt', prob_thd=0.2)
