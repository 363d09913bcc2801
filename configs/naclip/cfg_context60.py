# Pascal Context val, 60 classes (background included: the word 'background' on line 1), NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.1, PAMR 10 steps (8, 16). Authors' reported mIoU (NACLIP README): 34.99.
# The authors' PascalContext60Dataset is mmseg's PascalContextDataset here (same 60 classes,
# reduce_zero_label False).
_base_ = './base_config.py'

model = dict(
    name_path='{{fileDirname}}/../sclip/cls_context60.txt',
    prob_thd=0.1,
)

test_dataloader = dict(
    dataset=dict(
        type='PascalContextDataset',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
        ann_file='ImageSets/SegmentationContext/val.txt',
    ),
)
