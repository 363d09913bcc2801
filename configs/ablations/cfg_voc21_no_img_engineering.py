# ITACLIP ablation, Pascal VOC 21: no image engineering (the crop alone, no grayscale/blur/flip views).
_base_ = '../cfg_voc21.py'

model = dict(img_engineering=False)
