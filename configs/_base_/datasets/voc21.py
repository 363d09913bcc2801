# Pascal VOC 2012 val, 21 classes (background included): mmseg's PascalVOCDataset. Short side S 336.
_base_ = './loader.py'

test_dataloader = dict(dataset=dict(
    type='PascalVOCDataset',
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/val.txt'))
