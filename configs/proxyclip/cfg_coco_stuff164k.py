# COCO-Stuff 164k val2017, 171 classes (no background), ProxyCLIP.
# Authors' settings (mc-lan/ProxyCLIP at e7b767f, cfg_coco_stuff164k.py): S 336, slide 336/112,
# logit_scale 40, prob_thd 0.0. Authors' reported mIoU
# (ProxyCLIP paper, ECCV 2024, ViT-B/16 + DINO ViT-B/8): 26.5.
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/models/proxyclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_coco_stuff.txt')

# Short side S 336: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 336), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
