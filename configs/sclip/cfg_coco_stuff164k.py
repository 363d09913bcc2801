# COCO-Stuff 164k val2017, 171 classes (no background), SCLIP.
# Authors' settings (wangf3014/SCLIP at b56bd30): S 448, slide 224/112, logit_scale 40,
# prob_thd 0.0, no area threshold, no PAMR. Authors' reported mIoU (SCLIP README): 22.77.
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/models/sclip.py']

model = dict(name_path='{{fileDirname}}/cls_coco_stuff.txt')
