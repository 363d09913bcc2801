# Pascal Context val without background, 59 classes: Context-60's images and labels with the
# background ignored (mmseg's PascalContextDataset59, reduce_zero_label True by default). Short side S 336.
_base_ = './context60.py'

test_dataloader = dict(dataset=dict(type='PascalContextDataset59'))
