# Settings shared by every ProxyCLIP configuration (the authors' code and configs, mc-lan/ProxyCLIP at e7b767f).
# ProxyCLIP replaces CLIP's last vision block by proxy attention: the attention comes from the cosine
# similarities of a second vision model's patch features, softmax(gamma (S - beta mean S)) with the
# negative entries masked, and is applied to CLIP's values resized to that model's grid (no residual,
# no feed-forward, no class token). The second model of every configuration is DINO ViT-B/8
# (vfm_model='dino'; checkpoint=None downloads its release once, checkpoint='/path/to/file.pth' reads
# a local DINO state dict). Windows 336 / stride 112, each zero-padded to a multiple of 56 pixels;
# class lines split on "; "; no PAMR, no area threshold, no closing. Class files: VOC-21 and
# COCO-Object are the authors' own (configs/proxyclip/), VOC-20 equals ClearCLIP's, Context-459 and
# ADE-847 are here too, the other five are byte-identical to SCLIP's and read from ../sclip/.
# The runtime, evaluator and data loading are those of ../default_runtime.py and ../datasets/.
model = dict(
    type='ProxyCLIPSegmentation', clip_type='openai', model_type='ViT-B/16',
    vfm_model='dino', checkpoint=None,
    beta=1.2, gamma=3.0, logit_scale=40, prob_thd=0.0,
    slide_crop=336, slide_stride=112,
)
