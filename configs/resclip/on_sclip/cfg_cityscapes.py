# ResCLIP's RCS and SFR on SCLIP's attention (arch w_resi, attn_strategy sclip); the rest as ../cfg_cityscapes.py.
# Authors' reported mIoU (README, "+ResCLIP" on SCLIP, ViT-B/16): 34.4.
_base_ = '../cfg_cityscapes.py'

model = dict(arch='w_resi', attn_strategy='sclip')
