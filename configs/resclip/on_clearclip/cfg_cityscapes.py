# ResCLIP's RCS and SFR on ClearCLIP's attention (attn_strategy clearclip); the rest as ../cfg_cityscapes.py.
# Authors' reported mIoU (README, "+ResCLIP" on ClearCLIP, ViT-B/16): 34.5.
_base_ = '../cfg_cityscapes.py'

model = dict(attn_strategy='clearclip')
