# Pascal VOC 2012 val without background, 20 classes.
# Not in the paper: these settings are ours, COCO-Stuff's no-background settings as a
# starting point (short side as for data sets of similar image sizes). Tune before quoting.
# The classes are those of the background variant, so are the LLM texts.
_base_ = './base_config.py'

model = dict(
    name_path='{{fileDirname}}/cls_voc20.txt',
    dataset_name='voc20',
    auxiliary_text_path='{{fileDirname}}/../llm_texts/voc21_definitions.txt',
    logit_scale=40,
    prob_thd=0.0,
    def_coefficient=0.2,
    img_eng_coefficient=0.75,
)

test_dataloader = dict(
    dataset=dict(
        type='PascalVOC20Dataset',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
    ),
)
