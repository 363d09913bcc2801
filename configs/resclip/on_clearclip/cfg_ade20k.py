# ResCLIP's RCS and SFR on ClearCLIP's attention (attn_strategy clearclip); the rest as ../cfg_ade20k.py.
# Authors' reported mIoU (README, "+ResCLIP" on ClearCLIP, ViT-B/16): 17.8.
_base_ = '../cfg_ade20k.py'

model = dict(attn_strategy='clearclip')
