# Pascal VOC 2012 val without background, 20 classes (PascalVOC20Dataset: background ignored), NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336, whole image in one pass (slide_crop=0),
# logit_scale 40, prob_thd 0.0, PAMR 10 steps (8, 16). Authors' reported mIoU (NACLIP README): 83.03.
_base_ = './base_config.py'

model = dict(
    name_path='{{fileDirname}}/../sclip/cls_voc20.txt',
    slide_crop=0,
)

test_dataloader = dict(
    dataset=dict(
        type='PascalVOC20Dataset',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
    ),
)
