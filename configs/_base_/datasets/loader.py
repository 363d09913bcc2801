# The test pipeline and loader every data set shares (METHOD.md section 0), and the runtime.
# The data-set files beside this one add the data set (type, folders, split file).
_base_ = '../default_runtime.py'

# Short side S = 336. test_pipeline[1] is the Resize step: a data set or a method with another S
# replaces it (test_pipeline = [*_base_.test_pipeline]; test_pipeline[1] = dict(type='Resize', ...))
# and hands the new list to test_dataloader.dataset.pipeline.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 336), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(data_root='', pipeline=test_pipeline),  # data_root: eval.py --data-root PATH
)
