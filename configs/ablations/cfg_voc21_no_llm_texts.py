# ITACLIP ablation, Pascal VOC 21: no LLM texts (class-name embeddings alone, nothing mixed in).
_base_ = '../cfg_voc21.py'

model = dict(auxiliary_text_path=None)
