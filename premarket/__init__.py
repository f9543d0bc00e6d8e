"""premarket: the light core shared by the models, the services and the orchestrator.

It holds the wire protocol, the settings and the bundled data, and imports neither torch nor
bentoml, so a thin orchestrator install can use it.
"""

__version__ = "0.1.0"
