# ResCLIP's RCS and SFR on SCLIP's attention (arch w_resi, attn_strategy sclip); the rest as ../cfg_ade20k.py.
# Authors' reported mIoU (README, "+ResCLIP" on SCLIP, ViT-B/16): 17.6.
_base_ = '../cfg_ade20k.py'

model = dict(arch='w_resi', attn_strategy='sclip')
