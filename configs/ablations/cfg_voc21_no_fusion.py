# ITACLIP ablation, Pascal VOC 21: no intermediate-layer fusion (last block uses only its own attention map).
_base_ = '../cfg_voc21.py'

model = dict(last_block=dict(fuse_blocks=()))
