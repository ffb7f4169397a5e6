"""pplx-tui: inventory and lifecycle of Perplexity API keys."""

__version__ = "0.1.0"
APP_NAME = "pplx-tui"
