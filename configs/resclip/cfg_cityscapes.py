# Cityscapes val, 19 classes, ResCLIP on NACLIP.
# Authors' settings (yvhangyang/ResCLIP at 0e085f7; their file is cfg_city_scapes.py): S 560, slide 224/112,
# temp_thd 0.1, RCS [2.0, 0.2], SFR [2.1, 0.6]. Authors' reported mIoU (README, ViT-B/16): 35.9.
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/models/resclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_cityscapes.txt', temp_thd=0.1,
             attn_rcs_weights=[2.0, 0.2], attn_sfr_weights=[2.1, 0.6])
