# Pascal Context val without background, 59 classes.
# Not in the paper: these settings are ours, COCO-Stuff's no-background settings as a
# starting point (short side as for data sets of similar image sizes). Tune before quoting.
# The classes are those of the background variant, so are the LLM texts.
_base_ = './base_config.py'

model = dict(
    name_path='{{fileDirname}}/cls_context59.txt',
    dataset_name='context59',
    auxiliary_text_path='{{fileDirname}}/../llm_texts/context60_definitions.txt',
    logit_scale=40,
    prob_thd=0.0,
    def_coefficient=0.2,
    img_eng_coefficient=0.75,
)

test_dataloader = dict(
    dataset=dict(
        type='PascalContextDataset59',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
        ann_file='ImageSets/SegmentationContext/val.txt',
    ),
)
