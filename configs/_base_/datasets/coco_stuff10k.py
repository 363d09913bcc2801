# COCO-Stuff 10k test split (test2014, 1000 images), 171 classes (no background): mmseg's COCOStuffDataset
# with reduce_zero_label=True (mmseg's coco_stuff10k.py converter writes 0 for unlabelled pixels and
# 1..171 for the classes), which LoadAnnotations then follows. Short side S 336.
_base_ = './loader.py'

test_dataloader = dict(dataset=dict(
    type='COCOStuffDataset', reduce_zero_label=True,
    data_prefix=dict(img_path='images/test2014', seg_map_path='annotations/test2014')))
