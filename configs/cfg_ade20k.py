# ADE20K val (ADEChallengeData2016), 150 classes.
# Not in the paper: these settings are ours, COCO-Stuff's no-background settings
# (short side 448 included) as a starting point. Tune before quoting.
# LLM texts: this project's (llm_texts/ade20k_definitions.txt); the paper published none for ADE20K.
_base_ = './cfg_coco_stuff164k.py'

model = dict(
    name_path='{{fileDirname}}/cls_ade20k.txt',
    dataset_name='ade20k',
    auxiliary_text_path='ours:ade20k_definitions.txt',
)

test_dataloader = dict(
    dataset=dict(
        type='ADE20KDataset',
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
    ),
)
