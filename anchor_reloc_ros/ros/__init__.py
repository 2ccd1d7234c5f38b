"""The ROS 2 edge of anchor_reloc_ros: the only subpackage that imports rclpy.

``node.AnchorRelocNode`` wires a ``core.localizer.Localizer`` to topics, TF and
services. The helpers it uses (``frame_worker``, ``rates``, ``pose_math``) are ROS-free
so they can be tested on plain data.
"""
