# ResCLIP's RCS and SFR on ClearCLIP's attention (attn_strategy clearclip); the rest as ../cfg_coco_stuff164k.py.
# Authors' reported mIoU (README, "+ResCLIP" on ClearCLIP, ViT-B/16): 24.3.
_base_ = '../cfg_coco_stuff164k.py'

model = dict(attn_strategy='clearclip')
