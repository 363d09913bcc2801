# COCO-Stuff 164k val2017, 171 classes (no background), NACLIP.
# Authors' settings (sinahmr/NACLIP at 0cac3a6): S 336 (not SCLIP's or ITACLIP's 448),
# slide 224/112, logit_scale 40, prob_thd 0.0, PAMR 10 steps (8, 16).
# Authors' reported mIoU (NACLIP README): 25.69.
_base_ = './base_config.py'

model = dict(name_path='{{fileDirname}}/../sclip/cls_coco_stuff.txt')

test_dataloader = dict(
    dataset=dict(
        type='COCOStuffDataset',
        data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
    ),
)
