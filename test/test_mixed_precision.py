"""Mixed precision: fp16 goes through a GradScaler (overflowing steps skipped), fp32 does not."""
import torch

from anchor_reloc_ros.training.mixed_precision import MixedPrecision


def _model_and_optimizer() -> tuple[torch.nn.Linear, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def test_fp16_scales_the_loss_and_skips_a_step_whose_gradients_overflow() -> None:
    precision = MixedPrecision("cpu", torch.float16)  # the logic of the CUDA fp16 path, on the CPU
    assert precision.scaler is not None
    model, opt = _model_and_optimizer()
    before = model.weight.detach().clone()
    scale = precision.scaler.get_scale()
    precision.backward_and_step((model(torch.ones(2, 4)) * float("inf")).sum(), opt)
    assert torch.equal(model.weight, before), "a step with inf gradients must be skipped"
    assert precision.scaler.get_scale() < scale, "and the scale lowered"
    opt.zero_grad()
    precision.backward_and_step(model(torch.ones(2, 4)).sum(), opt)
    assert not torch.equal(model.weight, before) and torch.isfinite(model.weight).all()
    restored = MixedPrecision("cpu", torch.float16)
    restored.load_state_dict(precision.state_dict())
    assert restored.scaler.get_scale() == precision.scaler.get_scale()


def test_cpu_and_disabled_amp_are_plain_fp32() -> None:
    for precision in (MixedPrecision.for_device(torch.device("cpu"), True),
                      MixedPrecision.for_device(torch.device("cpu"), False)):
        assert precision.dtype is None and precision.scaler is None
        model, opt = _model_and_optimizer()
        with precision.autocast():
            out = model(torch.ones(2, 4))
        assert out.dtype == torch.float32
        precision.backward_and_step(out.sum(), opt)
        assert model.weight.grad is not None
