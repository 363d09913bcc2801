# Pascal VOC 2012 val, 20 classes (no background), ResCLIP on NACLIP.
# Authors' settings (yvhangyang/ResCLIP at 0e085f7): S 336, whole image in one pass, temp_thd 0.1,
# RCS [2.0, 0.6], SFR [2.1, 0.6]. Authors' reported mIoU (README, ViT-B/16): 86.0.
_base_ = ['../_base_/datasets/voc20.py', '../_base_/models/resclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_voc20.txt', slide_crop=0, temp_thd=0.1,
             attn_rcs_weights=[2.0, 0.6], attn_sfr_weights=[2.1, 0.6])
