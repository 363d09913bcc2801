# Settings shared by every ITACLIP configuration (METHOD.md section 6, "All").
# Per-data-set files set the data set, its class names, its LLM texts and the
# few hyper-parameters that differ. Paths in these files are relative to this
# folder ({{fileDirname}}), so the configs work from any working directory.
default_scope = 'mmseg'
custom_imports = dict(imports=['itaclip.models'], allow_failed_imports=False)

model = dict(
    type='ITACLIPSegmentor',
    model_name='ViT-B/16',
    img_engineering=True,
    attn_self=True,
    slide_crop=224,
    slide_stride=28,
    pamr_steps=10,
    pamr_stride=(8, 16),
)

test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=255)
test_cfg = dict(type='TestLoop')

# CLIP is frozen, so plain DDP would refuse it; this wrapper only moves frozen parts.
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook', interval=1, draw=False),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, alpha=0.6, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False

# The test pipeline of section 0; data sets with another short side S override it.
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
