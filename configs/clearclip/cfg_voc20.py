# Pascal VOC 2012 val without background, 20 classes (PascalVOC20Dataset: background ignored), ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.0. Authors' reported mIoU (assets/results.png, the paper's appendix table): 80.9.
_base_ = './base_config.py'

model = dict(name_path='{{fileDirname}}/cls_voc20.txt')

test_dataloader = dict(
    dataset=dict(
        type='PascalVOC20Dataset',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
    ),
)
