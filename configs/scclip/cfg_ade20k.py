# ADE20K val, 150 classes, SC-CLIP.
# Authors' settings (SuleBai/SC-CLIP at 0417ba9): S 336, slide 224/112, logit_scale 40, prob_thd 0.0.
# Authors' reported mIoU (paper, ViT-B/16): 20.1.
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/models/scclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_ade20k.txt')
