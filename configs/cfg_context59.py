# Pascal Context val without background, 59 classes: Context-60's images and labels
# with the background ignored (mmseg's PascalContextDataset59).
# Not in the paper: these settings are ours, COCO-Stuff's no-background settings as a
# starting point. Tune before quoting. LLM texts: this project's Context-60 file
# (llm_texts/context60_definitions.txt: same classes, no background line); --texts paper reads the paper's.
_base_ = ['_base_/datasets/context59.py', '_base_/models/itaclip.py']

model = dict(name_path='{{fileDirname}}/cls_context59.txt', dataset_name='context59',
             auxiliary_text_path='ours:context60_definitions.txt',
             logit_scale=40, prob_thd=0.0, def_coefficient=0.2, img_eng_coefficient=0.75)
