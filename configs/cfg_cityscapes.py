# Cityscapes val, 19 classes (no background).
# The paper's settings (METHOD.md section 6); paper mIoU 40.2.
# LLM texts: the paper's own synonyms (cityscapes_synonyms.txt, fetched once and checked by SHA-256);
# --texts ours reads llm_texts/cityscapes_synonyms.txt of this project instead, --texts none reads none.
_base_ = ['_base_/datasets/cityscapes.py', '_base_/models/itaclip.py']

model = dict(name_path='{{fileDirname}}/cls_cityscapes.txt', dataset_name='cityscapes',
             auxiliary_text_path='paper:cityscapes_synonyms.txt',
             logit_scale=40, prob_thd=0.0, def_coefficient=0.05, img_eng_coefficient=0.7)
