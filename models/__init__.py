"""segflow.models: everything that needs no Kafka.

Event schemas, time-decayed customer profiles, features, online clustering,
scores, rule segments, the change policy, the pure step, the in-memory runner
and the traffic simulator.
"""
