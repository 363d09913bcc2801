# Pascal Context val without background, 59 classes, ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.0. Authors' reported mIoU (assets/results.png, the paper's appendix table): 35.9.
# The authors' PascalContext59Dataset with LoadAnnotations(reduce_zero_label=True) is mmseg's
# PascalContextDataset59 here, whose reduce_zero_label default True does the same.
_base_ = ['../_base_/datasets/context59.py', '../_base_/models/clearclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_context59.txt')

# Short side S 448: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
