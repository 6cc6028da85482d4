"""ParaSight Desktop: describe what you saw, get an image of it, made on your own machine."""

__version__ = "0.1.0"
