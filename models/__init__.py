"""segflow.models: everything that needs no Kafka.

Event schemas, time-decayed customer profiles, features, online clustering,
scores, rule segments, the change policy, the pure step, the per-event engine and
the in-memory runner. (The simulator and the dataset adapters are
:mod:`segflow.sources`.)
"""
