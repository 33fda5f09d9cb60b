"""MusicMood's face model: a plain Python library (no Django, no Celery).

Everything needed to define, train, evaluate, export and serve the three-head VGG16-based
network lives here, so it runs from a notebook or ``python -m ml.train`` as well as from the
site. Django imports ``ml``; ``ml`` never imports Django.
"""

import os

#: Refuse images larger than this many pixels before decoding them (decompression bombs).
DEFAULT_MAX_PIXELS = 4096 * 4096

# A second line of defence behind ml.image's header check: OpenCV refuses images larger than
# OPENCV_IO_MAX_IMAGE_PIXELS inside imdecode (default 2**30 pixels), reading the variable once,
# when the cv2 library loads. So it is set here, before any ml module imports cv2; it has no
# effect in a process that imported cv2 before ml. setdefault lets an operator override it.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(DEFAULT_MAX_PIXELS))
