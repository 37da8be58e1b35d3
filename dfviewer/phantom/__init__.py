"""Physics-based paired chest phantom: attenuation and dark-field radiographs from a 3-D chest.

``simulate_case(seed, index, config)`` gives one :class:`PhantomCase`; ``write_dataset`` writes the
folder layout that ``dfviewer train`` and ``dfviewer evaluate`` read.
"""

from dfviewer.phantom.config import PhantomConfig, PhantomConfigError
from dfviewer.phantom.simulate import PhantomCase, simulate_case

__all__ = ["PhantomCase", "PhantomConfig", "PhantomConfigError", "simulate_case", "write_dataset"]


def __getattr__(name):
    if name == "write_dataset":
        from dfviewer.phantom.dataset import write_dataset

        return write_dataset
    raise AttributeError(name)
