# ADE20K-full val, 847 classes: itaclip's ADE20K847Dataset, the uint16 .tif label maps of detectron2's
# prepare_ade20k_full_sem_seg.py (ids 0..846, 65535 unlabelled), and the split file validation.txt
# (one image id per line, as ProxyCLIP's cfg_ade847.py reads; datasets/README.md says how to write it).
# Short side S 448 (ProxyCLIP's).
# Labels: LoadAnnotations16 (test_pipeline[2]) and IoUMetric16 keep the 16-bit ids; mmseg's LoadAnnotations
# would cut them to 8 bits, and so would its IoUMetric, given a uint8 prediction.
# Ignore index 65535, deliberately not ProxyCLIP's evaluation: its IoUMetric keeps the default 255,
# so it leaves class 255 out of the scores and counts the predictions on unlabelled pixels into the unions.
_base_ = './loader.py'

test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_pipeline[2] = dict(type='LoadAnnotations16')
test_dataloader = dict(dataset=dict(
    type='ADE20K847Dataset', pipeline=test_pipeline, ann_file='validation.txt',
    data_prefix=dict(img_path='images_detectron2/validation', seg_map_path='annotations_detectron2/validation')))
test_evaluator = dict(type='IoUMetric16', ignore_index=65535)
