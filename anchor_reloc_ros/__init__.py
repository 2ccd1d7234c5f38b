"""anchor_reloc_ros: single-image visual relocalization with discovered anchor points.

The package is split so that the generated ROS messages (``anchor_reloc_ros.msg``),
which a build installs into site-packages, are found even when Python imports this
source folder first (running from the repository root or an editable install).
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
