# Pascal VOC 2012 val, 21 classes (background included), SCLIP.
# Authors' settings (wangf3014/SCLIP at b56bd30): S 336, slide 224/112, logit_scale 65,
# prob_thd 0.1, area_thd 0.1 (the only SCLIP config with an area threshold), no PAMR.
# Authors' reported mIoU (SCLIP README): 59.63.
_base_ = ['../_base_/datasets/voc21.py', '../_base_/models/sclip.py']

model = dict(name_path='{{fileDirname}}/cls_voc21.txt', logit_scale=65, prob_thd=0.1, area_thd=0.1)
