# COCO-Stuff 164k val2017, 171 classes (no background), ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.0. Authors' reported mIoU (assets/results.png, the paper's appendix table): 23.9.
_base_ = './base_config.py'

model = dict(name_path='{{fileDirname}}/../sclip/cls_coco_stuff.txt')

test_dataloader = dict(
    dataset=dict(
        type='COCOStuffDataset',
        data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
    ),
)
