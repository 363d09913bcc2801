# ResCLIP's RCS and SFR on SCLIP's attention (arch w_resi, attn_strategy sclip); the rest as ../cfg_voc21.py.
# Authors' reported mIoU (README, "+ResCLIP" on SCLIP, ViT-B/16): 60.7.
_base_ = '../cfg_voc21.py'

model = dict(arch='w_resi', attn_strategy='sclip')
