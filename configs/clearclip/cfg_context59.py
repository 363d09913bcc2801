# Pascal Context val without background, 59 classes, ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.0. Authors' reported mIoU (assets/results.png, the paper's appendix table): 35.9.
# The authors' PascalContext59Dataset with LoadAnnotations(reduce_zero_label=True) is mmseg's
# PascalContextDataset59 here, whose reduce_zero_label default True does the same.
_base_ = './cfg_context60.py'

model = dict(
    name_path='{{fileDirname}}/../sclip/cls_context59.txt',
    prob_thd=0.0,
)

test_dataloader = dict(dataset=dict(type='PascalContextDataset59'))
