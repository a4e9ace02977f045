"""The composition root: the app factory, its lifespan and the `willay` CLI wire every package.

It stands above everything it wires; nothing imports it.
"""

__all__: list[str] = []
