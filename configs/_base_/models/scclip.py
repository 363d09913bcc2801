# Settings shared by every SC-CLIP configuration (the authors' code and configs, SuleBai/SC-CLIP at 0417ba9).
# SC-CLIP is SCLIP's pipeline with another ending of the vision tower (itaclip/scclip.py): anomaly tokens
# found after block 11 by a local-outlier score and repaired from their neighbours, similarity-guided
# aggregation with the features of blocks 9 and 4, the last block replaced (no residual, no feed-forward,
# 0.3 of the class token) and run a second time over the sum of blocks 4-10. The authors' base config
# passes the five SC-CLIP keys below (equal to their defaults); slide 224/112 and no PAMR are their
# segmentor's defaults, written out. Class files are SCLIP's, byte for byte (configs/sclip/).
model = dict(
    type='SCCLIPForSegmentation', clip_path='ViT-B/16',
    pre_adjust_idx=8, post_adjust_idx=3, multi_start_idx=3, multi_end_idx=10, res_cls=0.3,
    logit_scale=40, prob_thd=0.0, area_thd=None, slide_crop=224, slide_stride=112, pamr_steps=0,
)
