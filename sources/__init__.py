"""segflow.sources: where events come from, outside Kafka.

The traffic simulator (personas, drift and its ground truth) and the adapters of real
public datasets (Online Retail, CDNOW, Hillstrom, Taobao). They produce events of the
input contract (:mod:`segflow.models.events`); nothing here reads the environment or
assumes where the package is installed: callers pass the files.
"""
