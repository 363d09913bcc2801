# Pascal VOC 2012 val, 21 classes (background included), NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336, whole image in one pass (slide_crop=0),
# logit_scale 40, prob_thd 0.1, PAMR 10 steps (8, 16). Authors' reported mIoU (NACLIP README): 64.07.
_base_ = ['../_base_/datasets/voc21.py', '../_base_/models/naclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_voc21.txt', prob_thd=0.1, slide_crop=0)
