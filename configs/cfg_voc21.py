# Pascal VOC 2012 val, 21 classes (background included).
# The paper's settings (METHOD.md section 6); paper mIoU 67.9.
# LLM texts: the paper's own definitions (voc21_definitions.txt, fetched once and checked by SHA-256);
# --texts ours reads llm_texts/voc21_definitions.txt of this project instead, --texts none reads none.
_base_ = ['_base_/datasets/voc21.py', '_base_/models/itaclip.py']

model = dict(name_path='{{fileDirname}}/cls_voc21.txt', dataset_name='voc21',
             auxiliary_text_path='paper:voc21_definitions.txt',
             logit_scale=60, prob_thd=0.1, area_thd=0.1, def_coefficient=0.05, img_eng_coefficient=0.7)
