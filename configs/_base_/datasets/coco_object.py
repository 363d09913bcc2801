# COCO-Object val2017, 81 classes (background included): itaclip's COCOObjectDataset, labels
# *_instanceTrainIds.png (datasets/cvt_coco_object.py). Short side S 336.
_base_ = './loader.py'

test_dataloader = dict(dataset=dict(
    type='COCOObjectDataset',
    data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017')))
