# The runtime every configuration shares (METHOD.md section 6, "All"): registry scope, the model code,
# evaluation, hooks, environment and logs. Data sets: datasets/ (their test pipeline and loader,
# datasets/loader.py); methods: models/.
default_scope = 'mmseg'
custom_imports = dict(imports=['itaclip.models'], allow_failed_imports=False)

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
