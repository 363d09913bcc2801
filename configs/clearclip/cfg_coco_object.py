# COCO-Object val2017, 81 classes (background included: the word 'background' on line 1), ClearCLIP.
# Authors' settings (mc-lan/ClearCLIP at ad68a40): S 448, slide 448/224, logit_scale 50,
# prob_thd 0.4; labels *_instanceTrainIds.png (datasets/cvt_coco_object.py).
# Authors' reported mIoU: none (other repositories' tables quote 33.0).
_base_ = ['../_base_/datasets/coco_object.py', '../_base_/models/clearclip.py']

model = dict(name_path='{{fileDirname}}/cls_coco_object.txt', prob_thd=0.4)

# Short side S 448: the Resize step of the test pipeline.
test_pipeline = [*_base_.test_pipeline]
test_pipeline[1] = dict(type='Resize', scale=(2048, 448), keep_ratio=True)
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
