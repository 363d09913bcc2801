# COCO-Stuff 164k val2017, 171 classes (no background), NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336 (not SCLIP's or ITACLIP's 448),
# slide 224/112, logit_scale 40, prob_thd 0.0, PAMR 10 steps (8, 16).
# Authors' reported mIoU (NACLIP README): 25.69.
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/models/naclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_coco_stuff.txt')

# Short side S 336: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 336), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
