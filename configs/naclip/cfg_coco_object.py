# COCO-Object val2017, 81 classes (background included), NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.1, PAMR 10 steps (8, 16); labels *_instanceTrainIds.png (datasets/cvt_coco_object.py).
# Authors' reported mIoU (NACLIP README): 36.19.
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/models/naclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_coco_object.txt', prob_thd=0.1)
