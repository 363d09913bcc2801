# COCO-Stuff 164k val2017, 171 classes (no background), SCLIP.
# Authors' settings (wangf3014/SCLIP at b56bd30): S 448, slide 224/112, logit_scale 40,
# prob_thd 0.0, no area threshold, no PAMR. Authors' reported mIoU (SCLIP README): 22.77.
_base_ = './base_config.py'

model = dict(name_path='{{fileDirname}}/cls_coco_stuff.txt')

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 448), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    dataset=dict(
        type='COCOStuffDataset',
        data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
        pipeline=test_pipeline,
    ),
)
