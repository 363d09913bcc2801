# COCO-Stuff 164k val2017, 171 classes (no background), ResCLIP on NACLIP.
# Authors' settings (yvhangyang/ResCLIP at 0e085f7): S 336, slide 224/112, temp_thd 0.11,
# RCS [2.0, 0.4], SFR [1.8, 0.7]. Authors' reported mIoU (README, ViT-B/16): 24.7.
_base_ = ['../_base_/datasets/coco_stuff164k.py', '../_base_/models/resclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_coco_stuff.txt', temp_thd=0.11,
             attn_rcs_weights=[2.0, 0.4], attn_sfr_weights=[1.8, 0.7])

# Short side S 336: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 336), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
