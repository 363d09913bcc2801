# COCO-Object val2017, 81 classes (background included: the word 'background' on line 1), ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.4; labels *_instanceTrainIds.png (datasets/cvt_coco_object.py).
# Authors' reported mIoU: none (other repositories' tables quote 33.0).
_base_ = './base_config.py'

model = dict(
    name_path='{{fileDirname}}/cls_coco_object.txt',
    prob_thd=0.4,
)

test_dataloader = dict(
    dataset=dict(
        type='COCOObjectDataset',
        data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
    ),
)
