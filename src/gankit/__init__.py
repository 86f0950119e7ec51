"""gankit: generative adversarial networks, faithful to the theory.

The public API, in a few lines:

    import gankit
    trainer = gankit.train(gankit.TrainConfig(dataset="ring8", model="toy-mlp", steps=500, out="runs/ring"))
    points = gankit.sample("runs/ring", n=1000)
    scores = gankit.evaluate("runs/ring", "modes")

`Trainer` and `GANStep` drive training by hand; `Callback` hooks into the loop;
`register_model`, `register_dataset`, `register_loss` and `register_metric` add your own.
"""

__version__ = "0.1.0"

from gankit.api import evaluate, sample  # noqa: E402  (modules below read __version__)
from gankit.config import TrainConfig  # noqa: E402
from gankit.data import register_dataset  # noqa: E402
from gankit.losses import register_loss  # noqa: E402
from gankit.metrics import register_metric  # noqa: E402
from gankit.models import register_model  # noqa: E402
from gankit.sampling.generator import load_generator  # noqa: E402
from gankit.training.callbacks import Callback  # noqa: E402
from gankit.training.step import GANStep, Iteration  # noqa: E402
from gankit.training.trainer import Trainer, train  # noqa: E402

__all__ = [
    "Callback",
    "GANStep",
    "Iteration",
    "TrainConfig",
    "Trainer",
    "__version__",
    "evaluate",
    "load_generator",
    "register_dataset",
    "register_loss",
    "register_metric",
    "register_model",
    "sample",
    "train",
]
