# Cityscapes val, 19 classes (no background), NACLIP (the authors' cfg_city_scapes.py).
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 560, slide 224/112, logit_scale 40,
# prob_thd 0.0, PAMR 10 steps (8, 16). Authors' reported mIoU (NACLIP README): 38.27.
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/models/naclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_cityscapes.txt')
