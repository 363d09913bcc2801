# Pascal Context val, 60 classes (the word 'background' first), ResCLIP on NACLIP.
# Authors' settings (yvhangyang/ResCLIP at 0e085f7): S 336, slide 224/112, prob_thd 0.1, temp_thd 0.3,
# RCS [2.0, 0.3], SFR [1.8, 0.7]. Authors' reported mIoU (README, ViT-B/16): 33.5.
_base_ = ['../_base_/datasets/context60.py', '../_base_/models/resclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_context60.txt', prob_thd=0.1, temp_thd=0.3,
             attn_rcs_weights=[2.0, 0.3], attn_sfr_weights=[1.8, 0.7])
