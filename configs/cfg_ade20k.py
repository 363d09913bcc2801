# ADE20K val (ADEChallengeData2016), 150 classes.
# Not in the paper: these settings are ours, COCO-Stuff's no-background settings
# (short side 448 included) as a starting point. Tune before quoting.
# LLM texts: this project's (llm_texts/ade20k_definitions.txt); the paper published none for ADE20K.
_base_ = ['_base_/datasets/ade20k.py', '_base_/models/itaclip.py']

model = dict(name_path='{{fileDirname}}/cls_ade20k.txt', dataset_name='ade20k',
             auxiliary_text_path='ours:ade20k_definitions.txt',
             logit_scale=40, prob_thd=0.0, def_coefficient=0.2, img_eng_coefficient=0.75)

# Short side S 448: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
