# ResCLIP's RCS and SFR on SCLIP's attention (arch w_resi, attn_strategy sclip); the rest as ../cfg_context59.py.
# Authors' reported mIoU (README, "+ResCLIP" on SCLIP, ViT-B/16): 35.8.
_base_ = '../cfg_context59.py'

model = dict(arch='w_resi', attn_strategy='sclip')
