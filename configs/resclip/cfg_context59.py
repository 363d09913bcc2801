# Pascal Context val, 59 classes (no background), ResCLIP on NACLIP.
# Authors' settings (yvhangyang/ResCLIP at 0e085f7): S 336, slide 224/112, temp_thd 0.25,
# RCS [2.0, 0.4], SFR [1.8, 0.7]. Authors' reported mIoU (README, ViT-B/16): 36.8.
_base_ = ['../_base_/datasets/context59.py', '../_base_/models/resclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_context59.txt', temp_thd=0.25,
             attn_rcs_weights=[2.0, 0.4], attn_sfr_weights=[1.8, 0.7])
