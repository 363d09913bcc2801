# ResCLIP's RCS and SFR on SCLIP's attention (arch w_resi, attn_strategy sclip); the rest as ../cfg_coco_stuff164k.py.
# Authors' reported mIoU (README, "+ResCLIP" on SCLIP, ViT-B/16): 23.9.
_base_ = '../cfg_coco_stuff164k.py'

model = dict(arch='w_resi', attn_strategy='sclip')
