# ADE20K val (ADEChallengeData2016), 150 classes (label 0 'other' ignored), NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.0, PAMR 10 steps (8, 16). Authors' reported mIoU (NACLIP README): 19.05.
# Their LoadAnnotations(reduce_zero_label=True) is ADE20KDataset's own default here.
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/models/naclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_ade20k.txt')
