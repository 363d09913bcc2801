# Pascal Context val without background, 59 classes, NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.0, PAMR 10 steps (8, 16). Authors' reported mIoU (NACLIP README): 38.35.
# The authors' PascalContext59Dataset with LoadAnnotations(reduce_zero_label=True) is mmseg's
# PascalContextDataset59 here, whose reduce_zero_label default True does the same.
_base_ = ['../_base_/datasets/context59.py', '../_base_/models/naclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_context59.txt')
