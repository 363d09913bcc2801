# Pascal VOC 2012 val, 20 classes (no background), SC-CLIP.
# Authors' settings (SuleBai/SC-CLIP at 0417ba9): S 336, slide 224/112, logit_scale 40, prob_thd 0.0.
_base_ = ['../_base_/datasets/voc20.py', '../_base_/models/scclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_voc20.txt')
