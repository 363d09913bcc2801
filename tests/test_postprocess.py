"""Section 5, post-processing, against the paper's tensor formulation."""
import torch
import torch.nn.functional as F

from itaclip import postprocess as pp


def paper_probabilities(logits, query_idx, num_classes, scale):
    """The paper's one-hot formulation of steps 1-2."""
    probs = (logits * scale).softmax(0)
    if num_classes == len(query_idx):
        return probs
    one_hot = F.one_hot(query_idx, num_classes).T.view(num_classes, len(query_idx), 1, 1)
    return (probs[None] * one_hot).max(1)[0]


def test_class_probability_is_max_over_queries():
    """Several queries per class: the class keeps its best query."""
    logits = torch.randn(6, 9, 10)
    idx = torch.tensor([0, 0, 1, 2, 2, 2])
    torch.testing.assert_close(pp.class_probabilities(logits, idx, 3, 40), paper_probabilities(logits, idx, 3, 40))
    one_each = torch.arange(6)
    torch.testing.assert_close(pp.class_probabilities(logits, one_each, 6, 40), (40 * logits).softmax(0))


def test_area_threshold_zeroes_small_classes():
    """A class covering no more than area_thd of the non-zero-class pixels is dropped."""
    probs = torch.zeros(3, 10, 10)
    probs[1] = 0.9
    probs[2, :1, :5] = 0.95  # 5 pixels of class 2 against 95 of class 1
    out = pp.drop_small_classes(probs.clone(), 0.1)
    assert (out[2] == 0).all() and (out[1] == 0.9).all()
    assert torch.equal(pp.drop_small_classes(probs.clone(), None), probs)


def test_probability_threshold_and_closing():
    """Low-confidence pixels become 0; a one-pixel hole is closed."""
    probs = torch.zeros(2, 7, 7)
    probs[1] = 0.8
    probs[0, 3, 3], probs[1, 3, 3] = 0.9, 0.05
    labels = pp.label_map(probs.clone(), prob_thd=0.1)
    assert labels[3, 3] == 0 and labels[0, 0] == 1
    closed = pp.close(labels)
    assert closed.dtype == torch.uint8 and (closed == 1).all()
    probs[:, 0, 0] = 0.05
    assert pp.label_map(probs.clone(), prob_thd=0.1)[0, 0] == 0


def test_other_methods_switches():
    """No closing keeps the raw argmax (int64); renormalise divides the stored probabilities by their sum
    after the labels and the threshold are taken from the raw ones (NACLIP)."""
    logits = torch.randn(5, 12, 14)
    idx = torch.tensor([0, 1, 1, 2, 3])
    raw = pp.class_probabilities(logits, idx, 4, 40)
    probs, labels = pp.postprocess(logits, idx, 4, 40, prob_thd=0.6, closing=False)
    assert labels.dtype == torch.int64 and labels.shape == (1, 12, 14)
    assert torch.equal(labels[0], pp.label_map(raw.clone(), 0.6))
    torch.testing.assert_close(probs, raw)
    renormed, same = pp.postprocess(logits, idx, 4, 40, prob_thd=0.6, closing=False, renormalise=True)
    assert torch.equal(same, labels)
    torch.testing.assert_close(renormed, raw / raw.sum(0, keepdim=True))
    torch.testing.assert_close(renormed.sum(0), torch.ones(12, 14))
    _, closed = pp.postprocess(logits, idx, 4, 40, prob_thd=0.6)
    assert closed.dtype == torch.uint8 and torch.equal(closed[0].long(), pp.close(labels[0]).long())
