"""segflow.sources: where events come from, outside Kafka.

The traffic simulator (:mod:`segflow.sources.simulator`: personas, drift and its ground
truth) and the adapters of real public datasets (a module each: Online Retail, CDNOW,
Hillstrom, Taobao; their registry is :mod:`segflow.sources.datasets`). They produce
events of the input contract (:mod:`segflow.models.events`); nothing here reads the
environment or assumes where the package is installed: callers pass the files.
"""
