# ITACLIP ablation, Pascal VOC 21: LLM synonyms (this project's llm_texts/voc21_synonyms.txt) instead of definitions.
_base_ = '../cfg_voc21.py'

model = dict(auxiliary_text_path='ours:voc21_synonyms.txt')
