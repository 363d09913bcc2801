# Cityscapes val, 19 classes (no background), SCLIP (the authors' cfg_city_scapes.py).
# Authors' settings (wangf3014/SCLIP at b56bd30): S 560, slide 224/112, logit_scale 40,
# prob_thd 0.0, no area threshold, no PAMR. Authors' reported mIoU (SCLIP README): 32.34.
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/models/sclip.py']

model = dict(name_path='{{fileDirname}}/cls_cityscapes.txt')
