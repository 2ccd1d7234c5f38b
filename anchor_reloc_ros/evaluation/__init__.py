"""Evaluation: run the Localizer on posed frames and report.

Imports core, data and training (the benchmark trains its methods), ``benchmarks.machine``
(the machine description), and ROS-free helpers of ``ros``: ``pose_math`` and
``node_process`` (the demo starts the node as a process). rclpy only inside bag-eval's
live mode (``ros.bag_replay``), never at import time.
"""
