# Cityscapes val, 19 classes (no background), ClearCLIP (the authors' cfg_city_scapes.py).
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448 (not 560 as in the other methods),
# slide 224/224, logit_scale 50, prob_thd 0.0.
# Authors' reported mIoU (assets/results.png, the paper's appendix table): 30.0.
_base_ = ['../_base_/datasets/cityscapes.py', '../_base_/models/clearclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_cityscapes.txt', slide_crop=224, slide_stride=224)

# Short side S 448: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
