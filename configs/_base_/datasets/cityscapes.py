# Cityscapes val, 19 classes (no background): mmseg's CityscapesDataset. Short side S 560
# (ClearCLIP's config sets its 448).
_base_ = './loader.py'

test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 560), keep_ratio=True)
test_dataloader = dict(dataset=dict(type='CityscapesDataset', pipeline=test_pipeline, data_prefix=dict(
    img_path='leftImg8bit/val', seg_map_path='gtFine/val')))
