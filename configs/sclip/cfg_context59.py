# Pascal Context val without background, 59 classes, SCLIP.
# Authors' settings (wangf3014/SCLIP at b56bd30): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.0, no area threshold, no PAMR. Authors' reported mIoU (SCLIP README): 34.46.
# The authors' PascalContext59Dataset with LoadAnnotations(reduce_zero_label=True) is mmseg's
# PascalContextDataset59 here, whose reduce_zero_label default True does the same.
_base_ = ['../_base_/datasets/context59.py', '../_base_/models/sclip.py']

model = dict(name_path='{{fileDirname}}/cls_context59.txt')
