# ResCLIP's RCS and SFR on SCLIP's attention (arch w_resi, attn_strategy sclip); the rest as ../cfg_voc20.py.
# Authors' reported mIoU (README, "+ResCLIP" on SCLIP, ViT-B/16): 84.6.
_base_ = '../cfg_voc20.py'

model = dict(arch='w_resi', attn_strategy='sclip')
