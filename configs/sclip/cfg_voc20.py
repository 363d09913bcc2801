# Pascal VOC 2012 val without background, 20 classes (PascalVOC20Dataset: background ignored), SCLIP.
# Authors' settings (wangf3014/SCLIP at b56bd30): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.0, no area threshold, no PAMR. Authors' reported mIoU (SCLIP README): 81.54.
_base_ = ['../_base_/datasets/voc20.py', '../_base_/models/sclip.py']

model = dict(name_path='{{fileDirname}}/cls_voc20.txt')
