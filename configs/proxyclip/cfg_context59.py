# Pascal Context val without background, 59 classes, ProxyCLIP.
# Authors' settings (mc-lan/ProxyCLIP at e7b767f, cfg_context59.py): S 336, slide 336/112,
# logit_scale 40, prob_thd 0.0.
# The paper reports this data set; its number is not recorded in this project yet.
# The authors' PascalContext59Dataset with LoadAnnotations(reduce_zero_label=True) is mmseg's
# PascalContextDataset59 here, whose reduce_zero_label default True does the same.
_base_ = ['../_base_/datasets/context59.py', '../_base_/models/proxyclip.py']

model = dict(name_path='{{fileDirname}}/../sclip/cls_context59.txt')
