"""seelike: reproduce "Do Vision Transformers See Like Convolutional Neural Networks?" at any scale."""

__version__ = "0.1.0"
