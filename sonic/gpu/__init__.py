"""The Sonic GPU renderer: official Sonic checkpoints (CC BY-NC-SA 4.0) on one CUDA GPU.

Start at `renderer.py` (`SonicRenderer`, `get_renderer`), `spec.py` (`doctor`, checkpoint layout),
`pipeline.py` (the algorithm) and `unet.py` (the network). Nothing heavy is imported here.
"""


def create_renderer(settings):
    """The render stage's entry point (``sonic.stage.RENDERERS["sonic"]``)."""
    from sonic.gpu.renderer import create_renderer as create

    return create(settings)
