"""Test-wide settings: keep every ROS process on loopback and on its own DDS domain."""
from __future__ import annotations

import os

# Set before anything imports rclpy. Each pytest run gets its own domain (1..100) so
# parallel runs on one machine never see each other's topics.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
