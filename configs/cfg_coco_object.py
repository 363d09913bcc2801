# COCO-Object val2017, 81 classes (background included).
# The paper's settings (METHOD.md section 6); paper mIoU 37.7.
# LLM texts: the paper's own synonyms (coco_object_synonyms.txt, fetched once and checked by SHA-256);
# --texts ours reads llm_texts/coco_object_synonyms.txt of this project instead, --texts none reads none.
_base_ = ['_base_/datasets/coco_object.py', '_base_/models/itaclip.py']

model = dict(name_path='{{fileDirname}}/cls_coco_object.txt', dataset_name='coco_object',
             auxiliary_text_path='paper:coco_object_synonyms.txt',
             logit_scale=50, prob_thd=0.1, def_coefficient=0.1, img_eng_coefficient=0.75)
