# COCO-Stuff 164k val2017, 171 classes (no background), ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.0. Authors' reported mIoU (assets/results.png, the paper's appendix table): 23.9.
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/models/clearclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_coco_stuff.txt')
