# Cityscapes val, 19 classes (no background), ProxyCLIP (the authors' cfg_city_scapes.py).
# Authors' settings (mc-lan/ProxyCLIP at e7b767f): S 448, slide 224/112, logit_scale 40,
# prob_thd 0.0. Authors' reported mIoU
# (ProxyCLIP paper, ECCV 2024, ViT-B/16 + DINO ViT-B/8): 38.1.
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/models/proxyclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_cityscapes.txt', slide_crop=224, slide_stride=112)

# Short side S 448: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
