# ITACLIP ablation, Pascal VOC 21: the last block keeps its feed-forward part (ln_2, MLP, second residual).
_base_ = '../cfg_voc21.py'

model = dict(last_block=dict(ffn=True))
