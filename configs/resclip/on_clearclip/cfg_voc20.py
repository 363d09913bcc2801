# ResCLIP's RCS and SFR on ClearCLIP's attention (attn_strategy clearclip); the rest as ../cfg_voc20.py.
# Authors' reported mIoU (README, "+ResCLIP" on ClearCLIP, ViT-B/16): 87.1.
_base_ = '../cfg_voc20.py'

model = dict(attn_strategy='clearclip')
