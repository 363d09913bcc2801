# Cityscapes val, 19 classes (no background).
# The paper's settings (METHOD.md section 6); paper mIoU 40.2.
# LLM texts: the paper's own synonyms (cityscapes_synonyms.txt, fetched once and checked by SHA-256);
# --texts ours reads llm_texts/cityscapes_synonyms.txt of this project instead, --texts none reads none.
_base_ = './base_config.py'

model = dict(
    name_path='{{fileDirname}}/cls_cityscapes.txt',
    dataset_name='cityscapes',
    auxiliary_text_path='paper:cityscapes_synonyms.txt',
    logit_scale=40,
    prob_thd=0.0,
    def_coefficient=0.05,
    img_eng_coefficient=0.7,
)

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 560), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    dataset=dict(
        type='CityscapesDataset',
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline,
    ),
)
