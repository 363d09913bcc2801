# Pascal Context val, 60 classes (background included: the word 'background' on line 1), NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.1, PAMR 10 steps (8, 16). Authors' reported mIoU (NACLIP README): 34.99.
# The authors' PascalContext60Dataset is mmseg's PascalContextDataset here (same 60 classes,
# reduce_zero_label False).
_base_ = ['../_base_/datasets/context60.py', '../_base_/models/naclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_context60.txt', prob_thd=0.1)
