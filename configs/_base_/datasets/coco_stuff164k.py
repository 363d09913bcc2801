# COCO-Stuff 164k val2017, 171 classes (no background): mmseg's COCOStuffDataset. Short side S 448
# (the paper's and SCLIP's; NACLIP's config sets its 336).
_base_ = './loader.py'

test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_dataloader = dict(dataset=dict(type='COCOStuffDataset', pipeline=test_pipeline, data_prefix=dict(
    img_path='images/val2017', seg_map_path='annotations/val2017')))
