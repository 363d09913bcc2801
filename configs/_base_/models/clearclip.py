# Settings shared by every ClearCLIP configuration (the authors' code and configs, mc-lan/ClearCLIP at ad68a40).
# ClearCLIP's last vision block uses query-query attention, softmax(q q^T), and keeps only the
# attention output: no residual and no feed-forward (ignore_residual=True). No PAMR, no area
# threshold. Weights come from clip_type + vit_type (OpenAI CLIP ViT-B/16); this project's
# model_name key, when given, names a checkpoint instead.
# model_type: the authors' shipped base_config.py says 'vanilla' (plain q.k attention without
# residual/FFN, which is not the paper's method); 'ClearCLIP' here is the paper's method, as in
# the authors' demo.py. Class files: one name per line; VOC-21, VOC-20 and COCO-Object are in
# configs/clearclip/, the other five are byte-identical to SCLIP's and read from ../sclip/.
# Short side S = 448 for every data set, Cityscapes included: each config whose data set
# (../datasets/) has another S replaces its Resize step.
# The runtime, evaluator and data loading are those of ../default_runtime.py and ../datasets/.
model = dict(
    type='ClearCLIPSegmentation', clip_type='CLIP', vit_type='ViT-B/16',
    model_type='ClearCLIP', ignore_residual=True,
    logit_scale=50, prob_thd=0.0,
    slide_crop=448, slide_stride=224,
)
