# Pascal Context val, 60 classes (background included: the word 'background' on line 1), SCLIP.
# Authors' settings (wangf3014/SCLIP at b56bd30): S 336, slide 224/112, logit_scale 50,
# prob_thd 0.1, no area threshold, no PAMR. Authors' reported mIoU (SCLIP README): 31.74.
# The authors' PascalContext60Dataset is mmseg's PascalContextDataset here (same 60 classes,
# reduce_zero_label False).
_base_ = ['../_base_/datasets/context60.py', '../_base_/models/sclip.py']

model = dict(name_path='{{fileDirname}}/cls_context60.txt', logit_scale=50, prob_thd=0.1)
