# ResCLIP's RCS and SFR on SCLIP's attention (arch w_resi, attn_strategy sclip); the rest as ../cfg_context60.py.
# Authors' reported mIoU (README, "+ResCLIP" on SCLIP, ViT-B/16): 32.9.
_base_ = '../cfg_context60.py'

model = dict(arch='w_resi', attn_strategy='sclip')
