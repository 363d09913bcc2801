# Cityscapes val, 19 classes (no background), SCLIP (the authors' cfg_city_scapes.py).
# Authors' settings (wangf3014/SCLIP at b56bd30): S 560, slide 224/112, logit_scale 40,
# prob_thd 0.0, no area threshold, no PAMR. Authors' reported mIoU (SCLIP README): 32.34.
_base_ = './base_config.py'

model = dict(name_path='{{fileDirname}}/cls_cityscapes.txt')

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 560), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    dataset=dict(
        type='CityscapesDataset',
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline,
    ),
)
