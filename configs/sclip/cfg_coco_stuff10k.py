# COCO-Stuff 10k test split (test2014, 1000 images), 171 classes (no background), SCLIP.
# Authors' settings (wangf3014/SCLIP at b56bd30): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.0, no area threshold, no PAMR; reduce_zero_label=True on the data set (mmseg's
# coco_stuff10k.py converter writes 0 for unlabelled pixels and 1..171 for the classes), which
# LoadAnnotations then follows. Authors' reported mIoU (SCLIP README): 25.91.
# Same class file as COCO-Stuff 164k.
_base_ = ['../_base_/datasets/coco_stuff10k.py', '../_base_/models/sclip.py']

model = dict(name_path='{{fileDirname}}/cls_coco_stuff.txt')
