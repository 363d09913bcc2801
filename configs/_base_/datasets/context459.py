# Pascal Context val, all 459 classes (no background class): itaclip's PascalContext459Dataset, the uint16
# .tif label maps of detectron2's prepare_pascal_context_459.py (ids 0..458, 65535 unlabelled).
# Short side S 448 (ProxyCLIP's cfg_context459.py).
# Labels: LoadAnnotations16 (test_pipeline[2]) and IoUMetric16 keep the 16-bit ids; mmseg's LoadAnnotations
# would cut them to 8 bits, and so would its IoUMetric, given a uint8 prediction.
# Ignore index 65535, deliberately not ProxyCLIP's evaluation: its IoUMetric keeps the default 255,
# so it leaves class 255 out of the scores and counts the predictions on unlabelled pixels into the unions.
_base_ = './loader.py'

test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_pipeline[2] = dict(type='LoadAnnotations16')
test_dataloader = dict(dataset=dict(
    type='PascalContext459Dataset', pipeline=test_pipeline,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='annotations_detectron2/pc459_val'),
    ann_file='ImageSets/SegmentationContext/val.txt'))
test_evaluator = dict(type='IoUMetric16', ignore_index=65535)
