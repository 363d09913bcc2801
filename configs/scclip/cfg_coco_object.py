# COCO-Object val2017, 81 classes (background line first), SC-CLIP.
# Authors' settings (SuleBai/SC-CLIP at 0417ba9): S 336, slide 224/112, logit_scale 55, prob_thd 0.35.
# Authors' reported mIoU (paper, ViT-B/16): 37.7.
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/models/scclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_coco_object.txt', logit_scale=55, prob_thd=0.35)
