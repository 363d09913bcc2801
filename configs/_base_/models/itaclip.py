# Settings shared by every ITACLIP configuration (METHOD.md section 6, "All").
# Per-data-set files (configs/cfg_*.py) set the data set, its class names, its LLM texts and the
# few hyper-parameters that differ. Their class-file paths are relative to their own folder
# ({{fileDirname}}), so the configs work from any working directory.
model = dict(
    type='ITACLIPSegmentor', model_name='ViT-B/16',
    img_engineering=True, attn_self=True,
    slide_crop=224, slide_stride=28,
    pamr_steps=10, pamr_stride=(8, 16),
)
