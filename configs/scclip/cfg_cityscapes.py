# Cityscapes val, 19 classes, SC-CLIP.
# Authors' settings (SuleBai/SC-CLIP at 0417ba9; their file is cfg_city_scapes.py): S 560, slide 224/112,
# logit_scale 40, prob_thd 0.0. Authors' reported mIoU (paper, ViT-B/16): 41.0.
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/models/scclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_cityscapes.txt')
