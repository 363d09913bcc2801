# Pascal VOC 2012 val, 21 classes (background included: the word 'background' on line 1), ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.5. Authors' reported mIoU: none (their README and appendix table cover only the
# no-background sets; other repositories' tables quote 51.8).
_base_ = './base_config.py'

model = dict(
    name_path='{{fileDirname}}/cls_voc21.txt',
    prob_thd=0.5,
)

test_dataloader = dict(
    dataset=dict(
        type='PascalVOCDataset',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
    ),
)
