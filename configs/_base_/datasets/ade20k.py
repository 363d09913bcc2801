# ADE20K val (ADEChallengeData2016), 150 classes (label 0 'other' ignored: ADE20KDataset's own
# reduce_zero_label default): mmseg's ADE20KDataset. Short side S 336 (SCLIP's and NACLIP's;
# the ITACLIP and ClearCLIP configs set their 448).
_base_ = './loader.py'

test_dataloader = dict(dataset=dict(
    type='ADE20KDataset',
    data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation')))
