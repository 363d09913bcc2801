# Pascal Context val, 60 classes (the word 'background' first), SC-CLIP.
# Authors' settings (SuleBai/SC-CLIP at 0417ba9): S 336, slide 224/112, logit_scale 40, prob_thd 0.15.
# Authors' reported mIoU (paper, ViT-B/16): 36.8.
_base_ = ['../_base_/datasets/context60.py', '../_base_/models/scclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_context60.txt', prob_thd=0.15)
