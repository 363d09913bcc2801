# Settings shared by every ResCLIP configuration (the authors' code and configs, yvhangyang/ResCLIP at 0e085f7).
# ResCLIP is NACLIP's pipeline with two additions in the last vision block (itaclip/resclip.py): RCS mixes
# the attention maps of blocks 6-9 into the last block's, SFR feeds a first pass's patch labels back into a
# second pass. These are the settings of the authors' `test_all.sh wo_resi resclip 5` with base_config.py's
# use_rcs / use_sfr; each data set sets temp_thd and the two weight pairs. Class files are NACLIP's, which
# are SCLIP's byte for byte (configs/sclip/).
model = dict(
    type='ResCLIPSegmentation', clip_path='ViT-B/16', use_rcs=True, use_sfr=True,
    arch='wo_resi', attn_strategy='resclip', gaussian_std=5.0, delete_same_entity=True,
    logit_scale=40, prob_thd=0.0, slide_crop=224, slide_stride=112, pamr_steps=0,
)
