# Settings shared by every SCLIP configuration (the authors' code and configs, wangf3014/SCLIP at b56bd30).
# SCLIP keeps CLIP as it is except for the attention weights of the last vision block
# (correlative self-attention: softmax(q q^T) + softmax(k k^T)); residual and feed-forward stay.
# The authors' configs pass only clip_path, name_path and, for three data sets, logit_scale /
# prob_thd / area_thd; the remaining protocol values below are their segmentor's defaults,
# written out so each config reads as the full protocol. Class-file paths (configs/sclip/cfg_*.py)
# are relative to configs/sclip/. The runtime, evaluator and data loading are those of
# ../default_runtime.py and ../datasets/.
model = dict(
    type='CLIPForSegmentation', clip_path='ViT-B/16',
    logit_scale=40, prob_thd=0.0, area_thd=None,
    slide_crop=224, slide_stride=112,
    pamr_steps=0,
)
