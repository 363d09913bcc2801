# ResCLIP's RCS and SFR on ClearCLIP's attention (attn_strategy clearclip); the rest as ../cfg_voc21.py.
# Authors' reported mIoU (README, "+ResCLIP" on ClearCLIP, ViT-B/16): 59.0.
_base_ = '../cfg_voc21.py'

model = dict(attn_strategy='clearclip')
