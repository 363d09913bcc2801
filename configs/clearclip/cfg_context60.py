# Pascal Context val, 60 classes (background included: the word 'background' on line 1), ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.15. Authors' reported mIoU: none (other repositories' tables quote 32.6).
# The authors' PascalContext60Dataset is mmseg's PascalContextDataset here (same 60 classes,
# reduce_zero_label False).
_base_ = './base_config.py'

model = dict(
    name_path='{{fileDirname}}/../sclip/cls_context60.txt',
    prob_thd=0.15,
)

test_dataloader = dict(
    dataset=dict(
        type='PascalContextDataset',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
        ann_file='ImageSets/SegmentationContext/val.txt',
    ),
)
