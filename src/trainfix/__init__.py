"""trainfix: reproduce and reuse techniques that fix how deep networks are trained."""

__version__ = "0.1.0"
