# Settings shared by every NACLIP configuration (the authors' code and configs, sinahmr/NACLIP at 0cac3a6).
# NACLIP's last vision block attends by key-key similarity plus a Gaussian bias towards
# neighbouring patches (attn_strategy='naclip', sigma 5) and keeps only the attention output
# (arch='reduced': no residual, no feed-forward); PAMR refines the logits. These are the
# settings of the authors' `test_all.sh reduced naclip 5 on`, the run behind their README table.
# Their class files are byte-identical to SCLIP's, so the data-set configs read ../sclip/cls_*.txt.
# The runtime, evaluator and data loading are those of ../default_runtime.py and ../datasets/.
model = dict(
    type='NACLIP', clip_path='ViT-B/16',
    arch='reduced', attn_strategy='naclip', gaussian_std=5.0,
    pamr_steps=10, pamr_stride=(8, 16),
    logit_scale=40, prob_thd=0.0,
    slide_crop=224, slide_stride=112,
)

# The authors' base config sets env_cfg.cudnn_benchmark=True; it changes speed, not results.
