# ADE20K val (ADEChallengeData2016), 150 classes (label 0 'other' ignored), SCLIP.
# Authors' settings (wangf3014/SCLIP at b56bd30): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.0, no area threshold, no PAMR. Authors' reported mIoU (SCLIP README): 16.45.
# Their LoadAnnotations(reduce_zero_label=True) is ADE20KDataset's own default here.
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/models/sclip.py']

model = dict(name_path='{{fileDirname}}/cls_ade20k.txt')
