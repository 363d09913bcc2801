# ResCLIP's RCS and SFR on ClearCLIP's attention (attn_strategy clearclip); the rest as ../cfg_context60.py.
# Authors' reported mIoU (README, "+ResCLIP" on ClearCLIP, ViT-B/16): 32.9.
_base_ = '../cfg_context60.py'

model = dict(attn_strategy='clearclip')
