# Pascal VOC 2012 val without background, 20 classes (PascalVOC20Dataset: background ignored), ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.0. Authors' reported mIoU (assets/results.png, the paper's appendix table): 80.9.
_base_ = ['../_base_/datasets/voc20.py', '../_base_/models/clearclip.py']

model = dict(name_path='{{fileDirname}}/cls_voc20.txt')

# Short side S 448: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
