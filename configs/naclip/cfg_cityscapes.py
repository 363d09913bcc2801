# Cityscapes val, 19 classes (no background), NACLIP (the authors' cfg_city_scapes.py).
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 560, slide 224/112, logit_scale 40,
# prob_thd 0.0, PAMR 10 steps (8, 16). Authors' reported mIoU (NACLIP README): 38.27.
_base_ = './base_config.py'

model = dict(name_path='{{fileDirname}}/../sclip/cls_cityscapes.txt')

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
