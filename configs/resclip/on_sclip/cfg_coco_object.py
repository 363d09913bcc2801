# ResCLIP's RCS and SFR on SCLIP's attention (arch w_resi, attn_strategy sclip); the rest as ../cfg_coco_object.py.
# Authors' reported mIoU (README, "+ResCLIP" on SCLIP, ViT-B/16): 34.3.
_base_ = '../cfg_coco_object.py'

model = dict(arch='w_resi', attn_strategy='sclip')
