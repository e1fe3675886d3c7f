"""stylize: real-time arbitrary neural style transfer (AdaIN) on a VGG-19 encoder."""
__version__ = "0.1.0"
