# COCO-Object val2017, 81 classes (background line first), ResCLIP on NACLIP.
# Authors' settings (yvhangyang/ResCLIP at 0e085f7): S 336, slide 224/112, prob_thd 0.1, temp_thd 0.11,
# RCS [2.0, 0.4], SFR [1.8, 0.7]. Authors' reported mIoU (README, ViT-B/16): 35.0.
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/models/resclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_coco_object.txt', prob_thd=0.1, temp_thd=0.11,
             attn_rcs_weights=[2.0, 0.4], attn_sfr_weights=[1.8, 0.7])
