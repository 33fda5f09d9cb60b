"""MusicMood's face model: a plain Python library (no Django, no Celery).

Everything needed to define, train, evaluate, export and serve the three-head VGG16-based
network lives here, so it runs from a notebook or ``python -m ml.train`` as well as from the
site. Django imports ``ml``; ``ml`` never imports Django.
"""
