# COCO-Object val2017, 81 classes (background: line 1, 17 names joined by "; "), ProxyCLIP.
# Authors' settings (mc-lan/ProxyCLIP at e7b767f, cfg_coco_object.py): S 336, slide 336/112,
# logit_scale 40, prob_thd 0.25; labels *_instanceTrainIds.png (datasets/cvt_coco_object.py).
# Authors' reported mIoU
# (ProxyCLIP paper, ECCV 2024, ViT-B/16 + DINO ViT-B/8): 37.5.
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/models/proxyclip.py']

model = dict(name_path='{{fileDirname}}/cls_coco_object.txt', prob_thd=0.25)
