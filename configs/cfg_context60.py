# Pascal Context val, 60 classes (background included).
# The paper's settings (METHOD.md section 6); paper mIoU 37.5.
# LLM texts: the paper's own definitions (context60_definitions.txt, fetched once and checked by SHA-256);
# --texts ours reads llm_texts/context60_definitions.txt of this project instead, --texts none reads none.
_base_ = ['_base_/datasets/context60.py', '_base_/models/itaclip.py']

model = dict(name_path='{{fileDirname}}/cls_context60.txt', dataset_name='context60',
             auxiliary_text_path='paper:context60_definitions.txt',
             logit_scale=55, prob_thd=0.1, def_coefficient=0.15, img_eng_coefficient=0.75)
