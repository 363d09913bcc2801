# Pascal Context val, 60 classes (background included: the word 'background' on line 1), ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.15. Authors' reported mIoU: none (other repositories' tables quote 32.6).
# The authors' PascalContext60Dataset is mmseg's PascalContextDataset here (same 60 classes,
# reduce_zero_label False).
_base_ = ['../_base_/datasets/context60.py', '../_base_/models/clearclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_context60.txt', prob_thd=0.15)

# Short side S 448: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
