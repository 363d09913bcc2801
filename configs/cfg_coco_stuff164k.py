# COCO-Stuff 164k val2017, 171 classes (no background).
# The paper's settings (METHOD.md section 6); paper mIoU 27.0.
# LLM texts: the paper's own definitions (coco_stuff_definitions.txt, fetched once and checked by SHA-256);
# --texts ours reads llm_texts/coco_stuff_definitions.txt of this project instead, --texts none reads none.
_base_ = ['_base_/datasets/coco_stuff164k.py', '_base_/models/itaclip.py']

model = dict(name_path='{{fileDirname}}/cls_coco_stuff.txt', dataset_name='coco_stuff',
             auxiliary_text_path='paper:coco_stuff_definitions.txt',
             logit_scale=40, prob_thd=0.0, def_coefficient=0.2, img_eng_coefficient=0.75)
