# ADE20K val, 150 classes, ResCLIP on NACLIP.
# Authors' settings (yvhangyang/ResCLIP at 0e085f7): S 336, slide 224/112, temp_thd 0.25,
# RCS [2.0, 0.3], SFR [2.1, 0.7]. Authors' reported mIoU (README, ViT-B/16): 18.0.
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/models/resclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_ade20k.txt', temp_thd=0.25,
             attn_rcs_weights=[2.0, 0.3], attn_sfr_weights=[2.1, 0.7])
