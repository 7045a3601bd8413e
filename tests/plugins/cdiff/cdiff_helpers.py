"""Helpers of the cdiff tests: a tiny untrained decoder (2-level UNet; diffusion or flow) and distinct latents."""

import torch

from rdpflex.latent import Latent
from rdpflex_plugins.cdiff import CDiffDecoder, ConditionalDenoiser, flow_scheduler_config, scheduler_config

TINY_UNET = {
    "block_out_channels": (16, 32),
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "adapter_hidden": 8,
    "cond_channels": 4,
}


def tiny_cdiff(latent_channels: int, seed: int = 0, objective: str = "diffusion", **kw) -> CDiffDecoder:
    """T = 100; ``objective`` "flow" stores the flow-matching scheduler config instead of the betas."""
    torch.manual_seed(seed)
    denoiser = ConditionalDenoiser.build(latent_channels, **(TINY_UNET | kw))
    config = flow_scheduler_config(100) if objective == "flow" else scheduler_config(num_train_timesteps=100)
    return CDiffDecoder(denoiser, config, objective).eval()


def random_latents(system, n: int = 3, size: int = 64) -> list[Latent]:
    """Distinct integer latents (an untrained tiny codec quantises most images to zeros)."""
    g = torch.Generator().manual_seed(1)
    c, h, w = system.codec.latent_shape((size, size))
    return [
        Latent((3 * torch.randn(1, c, h, w, generator=g)).round(), (size, size), (size, size), f"im{i}")
        for i in range(n)
    ]


def losses_on_a_fixed_cycle(trainer, codec, key: str, steps: int = 30):
    """(losses[key], every step's logs, the batch, the step context) of ``steps`` training steps on one smooth
    batch, the random draws cycling through three seeds: on the same draws the loss of a model that learns
    must fall."""
    from accelerate import Accelerator

    from rdpflex.train.stage import StepContext

    ctx = StepContext(
        accelerator=Accelerator(cpu=True), modules=trainer.modules(), optimizers=trainer.optimizers(), total_steps=steps
    )
    x = torch.nn.functional.avg_pool2d(torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)), 5, 1, 2)
    with torch.no_grad():
        y_hat = codec.quantize(x)["y_hat"]
    logs = []
    for step in range(steps):
        ctx.step = step
        torch.manual_seed(step % 3)  # a fixed cycle of (t or sigma, noise) draws
        logs.append(trainer.train_step(x, y_hat, ctx))
    return [log[key] for log in logs], logs, x, ctx
