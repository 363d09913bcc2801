# Pascal Context val, 60 classes (background included: the word 'background' on line 1), ProxyCLIP.
# Authors' settings (mc-lan/ProxyCLIP at e7b767f, cfg_context60.py): S 336, slide 336/112,
# logit_scale 40, prob_thd 0.15. Authors' reported mIoU
# (ProxyCLIP paper, ECCV 2024, ViT-B/16 + DINO ViT-B/8): 35.3.
# The authors' PascalContext60Dataset is mmseg's PascalContextDataset here (same 60 classes,
# reduce_zero_label False).
_base_ = ['../_base_/datasets/context60.py', '../_base_/models/proxyclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_context60.txt', prob_thd=0.15)
