# Cityscapes val, 19 classes (no background), ClearCLIP (the authors' cfg_city_scapes.py).
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448 (not 560 as in the other methods),
# slide 224/224, logit_scale 50, prob_thd 0.0.
# Authors' reported mIoU (assets/results.png, the paper's appendix table): 30.0.
_base_ = './base_config.py'

model = dict(
    name_path='{{fileDirname}}/../sclip/cls_cityscapes.txt',
    slide_crop=224,
    slide_stride=224,
)

test_dataloader = dict(
    dataset=dict(
        type='CityscapesDataset',
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
    ),
)
