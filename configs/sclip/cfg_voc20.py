# Pascal VOC 2012 val without background, 20 classes (PascalVOC20Dataset: background ignored), SCLIP.
# Authors' settings (wangf3014/SCLIP at b56bd30): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.0, no area threshold, no PAMR. Authors' reported mIoU (SCLIP README): 81.54.
_base_ = './base_config.py'

model = dict(name_path='{{fileDirname}}/cls_voc20.txt')

test_dataloader = dict(
    dataset=dict(
        type='PascalVOC20Dataset',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
    ),
)
