# Pascal VOC 2012 val without background, 20 classes: VOC-21's images and labels
# with the background ignored (PascalVOC20Dataset).
# Not in the paper: these settings are ours, COCO-Stuff's no-background settings as a
# starting point. Tune before quoting. LLM texts: this project's VOC-21 file
# (llm_texts/voc21_definitions.txt: same classes, no background line); --texts paper reads the paper's.
_base_ = ['_base_/datasets/voc20.py', '_base_/models/itaclip.py']

model = dict(name_path='{{fileDirname}}/cls_voc20.txt', dataset_name='voc20',
             auxiliary_text_path='ours:voc21_definitions.txt',
             logit_scale=40, prob_thd=0.0, area_thd=None, def_coefficient=0.2, img_eng_coefficient=0.75)
