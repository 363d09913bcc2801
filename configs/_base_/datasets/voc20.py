# Pascal VOC 2012 val without background, 20 classes: VOC-21's images and labels with the background
# ignored (itaclip's PascalVOC20Dataset). Short side S 336.
_base_ = './voc21.py'

test_dataloader = dict(dataset=dict(type='PascalVOC20Dataset'))
