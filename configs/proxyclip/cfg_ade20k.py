# ADE20K val (ADEChallengeData2016), 150 classes (label 0 'other' ignored), ProxyCLIP.
# Authors' settings (mc-lan/ProxyCLIP at e7b767f, cfg_ade20k.py): S 448, slide 336/112, logit_scale 40,
# prob_thd 0.0. Authors' reported mIoU
# (ProxyCLIP paper, ECCV 2024, ViT-B/16 + DINO ViT-B/8): 20.2.
# Their LoadAnnotations(reduce_zero_label=True) is ADE20KDataset's own default here.
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/models/proxyclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_ade20k.txt')

# Short side S 448: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
