# COCO-Stuff 164k val2017, 171 classes (no background), SC-CLIP.
# Authors' settings (SuleBai/SC-CLIP at 0417ba9): S 336 (not SCLIP's 448), slide 224/112, logit_scale 40,
# prob_thd 0.0. Authors' reported mIoU (paper, ViT-B/16): 26.6.
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/models/scclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_coco_stuff.txt')

# Short side S 336: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 336), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
