"""What this kernel has of the features the toolkit uses, for both packages.

The public face of :mod:`ipv6._features` (the features as data, the one-line
error of a command that cannot do without one) and :mod:`ipv6._probe` (each
feature probed by trying it, once per network namespace): ``ipv6
capabilities`` prints it, and every command that needs a feature asks here.
"""

from __future__ import annotations

from ._features import (
    ABSENT,
    EXIT_KERNEL_LACKS,
    FEATURES,
    PRESENT,
    UNKNOWN,
    Feature,
    Finding,
    KernelLacks,
)
from ._probe import PRETEND_ENV, capabilities, has, require, state_of

__all__ = [
    "ABSENT",
    "EXIT_KERNEL_LACKS",
    "FEATURES",
    "PRESENT",
    "PRETEND_ENV",
    "UNKNOWN",
    "Feature",
    "Finding",
    "KernelLacks",
    "capabilities",
    "has",
    "require",
    "state_of",
]
