# Pascal VOC 2012 val, 21 classes (background line first), ResCLIP on NACLIP.
# Authors' settings (yvhangyang/ResCLIP at 0e085f7): S 336, whole image in one pass, prob_thd 0.1, temp_thd 0.5,
# RCS [2.0, 0.3], SFR [2.2, 0.7]. Authors' reported mIoU (README, ViT-B/16): 61.1.
_base_ = ['../_base_/datasets/voc21.py', '../_base_/models/resclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_voc21.txt', slide_crop=0, prob_thd=0.1, temp_thd=0.5,
             attn_rcs_weights=[2.0, 0.3], attn_sfr_weights=[2.2, 0.7])
