# ResCLIP's RCS and SFR on ClearCLIP's attention (attn_strategy clearclip); the rest as ../cfg_context59.py.
# Authors' reported mIoU (README, "+ResCLIP" on ClearCLIP, ViT-B/16): 36.4.
_base_ = '../cfg_context59.py'

model = dict(attn_strategy='clearclip')
