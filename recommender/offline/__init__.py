"""The recommender's offline side: simulated callers, events to interactions, training to
TFLite, baselines, metrics, off-policy estimates, evaluation, the release gate, model cards.

The serving side (`recommender`) never imports it, so a web process loads neither this nor
TensorFlow; the CLI, benchmarks and tests import its modules by name.
"""

__all__: list[str] = []
