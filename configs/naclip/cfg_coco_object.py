# COCO-Object val2017, 81 classes (background included), NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336, slide 224/112, logit_scale 40,
# prob_thd 0.1, PAMR 10 steps (8, 16); labels *_instanceTrainIds.png (datasets/cvt_coco_object.py).
# Authors' reported mIoU (NACLIP README): 36.19.
_base_ = './base_config.py'

model = dict(
    name_path='{{fileDirname}}/../sclip/cls_coco_object.txt',
    prob_thd=0.1,
)

test_dataloader = dict(
    dataset=dict(
        type='COCOObjectDataset',
        data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
    ),
)
