# COCO-Object val2017, 81 classes (background included), SCLIP.
# Authors' settings (wangf3014/SCLIP at b56bd30): S 336, slide 224/112, logit_scale 50,
# prob_thd 0.1, no area threshold, no PAMR; labels *_instanceTrainIds.png (datasets/cvt_coco_object.py).
# Authors' reported mIoU (SCLIP README): 33.52.
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/models/sclip.py']

model = dict(name_path='{{fileDirname}}/cls_coco_object.txt', logit_scale=50, prob_thd=0.1)
