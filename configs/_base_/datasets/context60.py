# Pascal Context val, 60 classes (background included): mmseg's PascalContextDataset
# (reduce_zero_label False). Short side S 336.
_base_ = './loader.py'

test_dataloader = dict(dataset=dict(
    type='PascalContextDataset',
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
    ann_file='ImageSets/SegmentationContext/val.txt'))
