# Pascal VOC 2012 val, 21 classes (background line first), SC-CLIP.
# Authors' settings (SuleBai/SC-CLIP at 0417ba9): S 336, slide 224/112, logit_scale 50, prob_thd 0.15,
# area_thd 0.1. Authors' reported mIoU (paper, ViT-B/16): 64.6.
_base_ = ['../_base_/datasets/voc21.py', '../_base_/models/scclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_voc21.txt', logit_scale=50, prob_thd=0.15, area_thd=0.1)
