"""The paper's equation 4 against a hand computation."""
import math

import pytest
import torch

from anchor_reloc_ros.core.loss import LossWeights, anchor_loss, posenet_loss, quaternion_error


def _outputs() -> dict[str, torch.Tensor]:
    return {
        # softmax([0, ln 3]) = [0.25, 0.75]
        "logits_BN": torch.tensor([[0.0, math.log(3.0)]]),
        "offsets_BND": torch.tensor([[[1.0, 0.0], [0.0, 2.0]]]),
        # z = 0.5, quaternion (2, 0, 0, 0) -> normalised (1, 0, 0, 0)
        "absolute_BA": torch.tensor([[0.5, 2.0, 0.0, 0.0, 0.0]]),
    }


def test_anchor_loss_matches_hand_computation() -> None:
    offsets = torch.zeros(1, 2, 2)
    absolute = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0]])
    nearest = torch.tensor([0])
    # offset term: 0.25 * 1 + 0.75 * 4 = 3.25; absolute term: 0.5^2 + 0 = 0.25
    total, parts = anchor_loss(_outputs(), offsets, absolute, nearest, LossWeights(0.0, 2.0, 3.0))
    assert parts["offset"] == pytest.approx(3.25)
    assert parts["absolute"] == pytest.approx(0.25)
    assert float(total) == pytest.approx(2.0 * 3.25 + 3.0 * 0.25)
    assert "ce" not in parts


def test_cross_entropy_term_is_added_when_alpha1_positive() -> None:
    offsets = torch.zeros(1, 2, 2)
    absolute = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0]])
    total, parts = anchor_loss(_outputs(), offsets, absolute, torch.tensor([0]), LossWeights(1.0, 2.0, 3.0))
    assert parts["ce"] == pytest.approx(-math.log(0.25))
    assert float(total) == pytest.approx(7.25 - math.log(0.25))


def test_label_smoothing_spreads_the_cross_entropy_target_over_all_anchors() -> None:
    offsets = torch.zeros(1, 2, 2)
    absolute = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0]])
    _, parts = anchor_loss(_outputs(), offsets, absolute, torch.tensor([0]), LossWeights(1.0, 2.0, 3.0, 0.2))
    # target (0.9, 0.1) for the nearest anchor 0 with e = 0.2 over 2 anchors; softmax (0.25, 0.75)
    assert parts["ce"] == pytest.approx(-(0.9 * math.log(0.25) + 0.1 * math.log(0.75)))


def test_quaternion_error_uses_normalised_prediction() -> None:
    pred = torch.tensor([[0.0, 0.0, 0.0, 3.0]])   # normalises to (0, 0, 0, 1)
    true = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert float(quaternion_error(pred, true)) == pytest.approx(2.0)


def test_posenet_loss_hand_computation() -> None:
    out = {"position_B3": torch.tensor([[1.0, 2.0, 2.0]]), "quat_B4": torch.tensor([[0.0, 1.0, 0.0, 0.0]])}
    total, parts = posenet_loss(out, torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 0.0, 0.0]]), LossWeights(0, 1.0, 0.5))
    assert parts["position"] == pytest.approx(9.0)
    assert parts["rotation"] == pytest.approx(2.0)
    assert float(total) == pytest.approx(9.0 + 1.0)


def test_confidence_gradient_moves_towards_better_anchor() -> None:
    """Without CE, the loss alone pushes confidence to the anchor with the smaller error."""
    out = _outputs()
    out["logits_BN"] = out["logits_BN"].clone().requires_grad_(True)
    total, _ = anchor_loss(out, torch.zeros(1, 2, 2), torch.tensor([[0.0, 1.0, 0, 0, 0]]), torch.tensor([0]),
                           LossWeights(0.0, 1.0, 1.0))
    total.backward()
    grad = out["logits_BN"].grad[0]
    assert grad[0] < 0 < grad[1]  # anchor 0 (error 1) gains, anchor 1 (error 4) loses
