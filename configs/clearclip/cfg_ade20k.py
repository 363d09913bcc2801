# ADE20K val (ADEChallengeData2016), 150 classes (label 0 'other' ignored), ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.0. Authors' reported mIoU (assets/results.png, the paper's appendix table): 16.7.
# Their LoadAnnotations(reduce_zero_label=True) is ADE20KDataset's own default here.
_base_ = './base_config.py'

model = dict(name_path='{{fileDirname}}/../sclip/cls_ade20k.txt')

test_dataloader = dict(
    dataset=dict(
        type='ADE20KDataset',
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
    ),
)
