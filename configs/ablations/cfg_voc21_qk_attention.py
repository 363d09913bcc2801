# ITACLIP ablation, Pascal VOC 21: plain q.k attention in the last block and the fused maps, not q.q + k.k.
_base_ = '../cfg_voc21.py'

model = dict(attn_self=False)
