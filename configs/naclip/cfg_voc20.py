# Pascal VOC 2012 val without background, 20 classes (PascalVOC20Dataset: background ignored), NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336, whole image in one pass (slide_crop=0),
# logit_scale 40, prob_thd 0.0, PAMR 10 steps (8, 16). Authors' reported mIoU (NACLIP README): 83.03.
_base_ = ['../_base_/datasets/voc20.py', '../_base_/models/naclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_voc20.txt', slide_crop=0)
