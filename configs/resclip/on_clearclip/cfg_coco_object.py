# ResCLIP's RCS and SFR on ClearCLIP's attention (attn_strategy clearclip); the rest as ../cfg_coco_object.py.
# Authors' reported mIoU (README, "+ResCLIP" on ClearCLIP, ViT-B/16): 34.0.
_base_ = '../cfg_coco_object.py'

model = dict(attn_strategy='clearclip')
