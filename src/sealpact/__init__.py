"""sealpact: a self-hostable electronic signature and electronic contract platform."""

__version__ = "0.1.0"
